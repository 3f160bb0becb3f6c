"""Batch-script checks and `#SBATCH` directive extraction, as sbatch 22.05 does them.

`check_script` refuses what sbatch refuses (empty, whitespace only, no `#!`, NUL byte, CRLF), with
sbatch's own wording. `extract_directives` finds the directive lines sbatch reads and splits each into
words with sbatch's word rules, which are neither shell nor `str.split`:

* only lines that start (column 0) with the magic word count; `#SBATCH--x` is read as `--x`, and the
  legacy `#SLURM` word is still read (sbatch warns once);
* scanning ends at the first line that is neither blank nor a comment, or at a `hetjob` separator;
* quotes ('...' or "...") group characters and are removed; a backslash copies the next character
  literally, even inside quotes, but an escaped blank still ends the word;
* an unquoted, unescaped `#` ends the line's words; a word that comes out empty (`""`, a lone `\\`)
  also ends the line's words; a word starting with `:` and an unmatched quote are fatal.

`wrap_script` builds the script that `sbatch --wrap` submits.
"""

from __future__ import annotations

from flowslurm.errors import SlurmInputError, SubmitError

SBATCH_PREFIX = "#SBATCH"
LEGACY_PREFIX = "#SLURM"
# What sbatch prints (as "sbatch: error: ...") the first time it reads a #SLURM line.
LEGACY_PREFIX_WARNING = (
    "Change from #SLURM to #SBATCH in your script and verify the options are valid in sbatch"
)

# C's isspace() in the C locale; Python's str.isspace() also accepts Unicode blanks such as NBSP.
_C_SPACE = frozenset(" \t\n\v\f\r")

_EMPTY = "Batch script is empty!"
_WHITESPACE = "Batch script contains only whitespace!"
_NO_SHEBANG = (
    "This does not look like a batch script.  The first\n"
    "line must start with #! followed by the path to an interpreter.\n"
    "For instance: #!/bin/sh"
)
_NUL = "The Slurm controller does not allow scripts that\ncontain a NULL character '\\0'."
_DOS = (
    "Batch script contains DOS line breaks (\\r\\n)\n"
    "instead of expected UNIX line breaks (\\n)."
)
_HETJOB_WORDS = ("packjob", "hetjob")


class ScriptFatalError(SlurmInputError):
    """sbatch stopped with fatal(): print as "sbatch: fatal: <message>" and exit 1."""

    label = "fatal"

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message, exit_code)


class Directive:
    """One directive line: 1-based line number, its words, the line as written.

    `legacy` is True when the line used the deprecated `#SLURM` magic word.
    (A plain class rather than a dataclass: importing dataclasses costs sbatch start-up time.)
    """

    __slots__ = ("line_no", "words", "raw", "legacy")

    def __init__(self, line_no: int, words: list[str] | None = None, raw: str = "",
                 legacy: bool = False) -> None:
        self.line_no = line_no
        self.words = words if words is not None else []
        self.raw = raw
        self.legacy = legacy

    def _key(self) -> tuple[int, list[str], str, bool]:
        return (self.line_no, self.words, self.raw, self.legacy)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Directive) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq

    def __repr__(self) -> str:
        return (f"Directive(line_no={self.line_no!r}, words={self.words!r}, raw={self.raw!r}, "
                f"legacy={self.legacy!r})")


def _as_text(script: str | bytes) -> str:
    if isinstance(script, bytes):
        return script.decode("utf-8", "surrogateescape")
    return script


def check_script(text: str | bytes) -> None:
    """Raise SubmitError (exit 1) with sbatch's lines, joined by "\\n", for a script it refuses."""
    text = _as_text(text)
    if not text:
        raise SubmitError(_EMPTY, 1)
    c_string = text.split("\0", 1)[0]  # sbatch tests the buffer as a C string here
    if all(ch in _C_SPACE for ch in c_string):
        raise SubmitError(_WHITESPACE, 1)
    if not text.startswith("#!"):
        raise SubmitError(_NO_SHEBANG, 1)
    if "\0" in text:
        raise SubmitError(_NUL, 1)
    if "\r\n" in text:
        raise SubmitError(_DOS, 1)


def wrap_script(command: str) -> str:
    """The script `sbatch --wrap=<command>` generates."""
    return f"#!/bin/sh\n# This script was created by sbatch --wrap.\n\n{command}\n"


def _skip_space(s: str, i: int) -> int:
    while i < len(s) and s[i] in _C_SPACE:
        i += 1
    return i


def _starts_with_word(s: str, i: int, word: str) -> bool:
    """Case-insensitive `word` at s[i:], followed by the end or a blank."""
    end = i + len(word)
    if s[i:end].lower() != word:
        return False
    return end == len(s) or s[end] in _C_SPACE


def _hetjob_at(s: str, i: int) -> str | None:
    for word in _HETJOB_WORDS:
        if _starts_with_word(s, i, word):
            return word
    return None


def _next_word(rest: str, file_name: str, line_no: int) -> tuple[str | None, str]:
    """Read one word from `rest`; return (word or None when the line has no more, what remains)."""
    i = _skip_space(rest, 0)
    separator = _hetjob_at(rest, i)
    if separator is not None:
        # sbatch blanks a separator word in place, which ends this line's words
        rest = rest[:i] + " " * len(separator) + rest[i + len(separator):]
    if i < len(rest) and rest[i] == ":":
        raise ScriptFatalError(f"{file_name}: line {line_no}: Unexpected `:` in [{rest}]")
    chars: list[str] = []
    quote = ""
    escaped = False
    n = len(rest)
    while i < n and (quote or rest[i] not in _C_SPACE):
        ch = rest[i]
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
            i += 1
            continue
        elif quote:
            if ch == quote:
                quote = ""
                i += 1
                continue
        elif ch in "\"'":
            quote = ch
            i += 1
            continue
        elif ch == "#":
            break
        chars.append(ch)
        i += 1
    if quote:
        raise ScriptFatalError(f"{file_name}: line {line_no}: Unmatched `{quote}` in [{rest}]")
    return ("".join(chars) if chars else None), rest[i:]


def split_directive_words(rest: str, *, file_name: str = "stdin", line_no: int = 0) -> list[str]:
    """Split what follows the magic word into words, with sbatch's rules (see module doc)."""
    words: list[str] = []
    while True:
        word, rest = _next_word(rest, file_name, line_no)
        if word is None:
            return words
        words.append(word)


def _is_command(line: str) -> bool:
    """True when the first non-blank character of the line is not '#'."""
    i = _skip_space(line, 0)
    return i < len(line) and line[i] != "#"


def _script_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final newline does not start another line
    return [line.split("\0", 1)[0] for line in lines]


def _magic_rest(line: str, prefix: str) -> tuple[str, bool] | None:
    if line.startswith(prefix):
        return line[len(prefix):], False
    if prefix == SBATCH_PREFIX and line.startswith(LEGACY_PREFIX):
        return line[len(LEGACY_PREFIX):], True
    return None


def _scan(text: str, prefix: str, component: int, file_name: str) -> tuple[list[Directive], bool]:
    directives: list[Directive] = []
    scan_index = 0
    for line_no, line in enumerate(_script_lines(_as_text(text)), start=1):
        found = _magic_rest(line, prefix)
        if found is None:
            if _is_command(line):
                break
            continue
        rest, legacy = found
        rest = rest[_skip_space(rest, 0):]
        if _hetjob_at(rest, 0) is not None:
            scan_index += 1
        if scan_index < component:
            continue
        if scan_index > component:
            return directives, True
        words = split_directive_words(rest, file_name=file_name, line_no=line_no)
        directives.append(Directive(line_no, words, line, legacy))
    return directives, False


def extract_directives(
    text: str | bytes,
    prefix: str = SBATCH_PREFIX,
    *,
    component: int = 0,
    file_name: str = "stdin",
) -> list[Directive]:
    """The directive lines sbatch reads, in order, for hetjob `component` (0 for a plain job).

    `file_name` is what fatal messages name (sbatch uses the script's basename, or "stdin").
    Lines with no words (a bare `#SBATCH`, `#SBATCH # note`) are kept with `words == []`.
    """
    return _scan(_as_text(text), prefix, component, file_name)[0]


def has_more_components(
    text: str | bytes, prefix: str = SBATCH_PREFIX, *, component: int = 0, file_name: str = "stdin"
) -> bool:
    """True when a `#SBATCH hetjob` separator follows the directives of `component`."""
    return _scan(_as_text(text), prefix, component, file_name)[1]


def directive_argv(directives: list[Directive]) -> list[str]:
    """All words in order, as sbatch hands them to its option parser (one argv for the script)."""
    return [word for directive in directives for word in directive.words]


def uses_legacy_prefix(directives: list[Directive]) -> bool:
    """True when sbatch would print LEGACY_PREFIX_WARNING (once) for these directives."""
    return any(directive.legacy for directive in directives)
