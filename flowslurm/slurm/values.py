"""Option values as SLURM 22.05 reads them: memory, GRES/GPUs, arrays, signals and counts.

Time values live in `flowslurm.slurm.timeparse` (re-exported here); dependencies and job id
lists in `flowslurm.slurm.jobrefs`.

Every parser is pure and raises only `SlurmInputError` (or its subclasses `SubmitError` and
`SlurmValueError`) with the text SLURM prints. `SlurmValueError.level` tells the caller how to
print the message ("error", "fatal" or "bare") and `.preamble` a bare line to print first.
"""

from __future__ import annotations

from flowslurm.errors import SlurmInputError, SubmitError
from flowslurm.record import Record
from flowslurm.slurm.timeparse import (
    SlurmValueError,
    digits_value,
    format_duration_sacct,
    format_duration_squeue,
    format_time_limit,
    format_timestamp,
    parse_begin,
    parse_time_limit,
)

__all__ = [
    "SlurmInputError", "SlurmValueError", "SubmitError",
    "parse_time_limit", "format_time_limit", "format_duration_squeue", "format_duration_sacct",
    "format_timestamp", "parse_begin",
    "parse_memory", "format_memory", "GresItem", "parse_gres", "parse_gpus",
    "ArraySpec", "parse_array", "format_array_tasks", "format_index_ranges", "parse_index_set",
    "parse_signal", "parse_signal_spec", "SIGNALS",
    "parse_count", "parse_nodes",
]  # fmt: skip

_LONG_MAX = 2**63 - 1
_C_SPACE = " \t\n\v\f\r"


def _strtol(s: str, i: int = 0) -> tuple[int | None, int]:
    """C strtol from s[i]: blanks, a sign, decimal digits. (value or None if no digits, end index).

    Like C, the end index stays at `i` when there are no digits. Values saturate at +-LONG_MAX.
    """
    j = i
    while j < len(s) and s[j] in _C_SPACE:
        j += 1
    sign = 1
    if j < len(s) and s[j] in "+-":
        sign = -1 if s[j] == "-" else 1
        j += 1
    start = j
    while j < len(s) and "0" <= s[j] <= "9":
        j += 1
    if j == start:
        return None, i
    value = sign * digits_value(s[start:j])
    return max(-_LONG_MAX - 1, min(_LONG_MAX, value)), j


# ---------------------------------------------------------------- memory


def parse_memory(text: str, opt: str = "--mem") -> int:
    """MiB for --mem / --mem-per-cpu / --mem-per-gpu: "4096", "4G", "4GB", "512k", "1T"; default M.

    Raises SlurmValueError("Invalid <opt> specification", 255).
    """
    value, end = _strtol(text)
    rest = text[end:]
    bad = SlurmValueError(f"Invalid {opt} specification", 255)
    if value is None or value < 0 or abs(value) >= _LONG_MAX:
        raise bad
    if rest == "":
        return value
    unit = rest[0].upper()
    if rest[1:] not in ("", "b", "B") or unit not in "KMGT":
        raise bad
    if unit == "K":
        return (value + 1023) // 1024
    return value * {"M": 1, "G": 1024, "T": 1024 * 1024}[unit]


def format_memory(mib: int) -> str:
    """MiB as squeue %m / sacct ReqMem / scontrol show it: "954M", "1G", "1536M", "2T"; 0 is "0"."""
    if mib <= 0:
        return "0"
    units = "MGTPE"
    idx = 0
    while mib % 1024 == 0 and idx < len(units) - 1:
        mib //= 1024
        idx += 1
    return f"{mib}{units[idx]}"


# ---------------------------------------------------------------- gres and gpus

_GRES_ERROR = "Invalid generic resource (gres) specification"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.+/")


class GresItem(tuple):  # type: ignore[type-arg]
    """One generic resource request: name ("gpu"), type ("a100" or None) and count.

    A named tuple written out by hand (`typing.NamedTuple` costs every command start-up time)."""

    __slots__ = ()
    _fields = ("name", "type", "count")

    def __new__(cls, name: str, type: str | None, count: int) -> GresItem:  # noqa: A002
        return tuple.__new__(cls, (name, type, count))

    def __getnewargs__(self) -> tuple[str, str | None, int]:
        return (self[0], self[1], self[2])

    @property
    def name(self) -> str:
        return self[0]  # type: ignore[no-any-return]

    @property
    def type(self) -> str | None:
        return self[1]  # type: ignore[no-any-return]

    @property
    def count(self) -> int:
        return self[2]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"GresItem(name={self[0]!r}, type={self[1]!r}, count={self[2]!r})"


def _gres_count(word: str) -> int | None:
    """A GRES count ("4", "2k" = 2048); None when `word` is not a count."""
    if word.isascii() and word.isdigit():
        return digits_value(word)
    if len(word) > 1 and word[:-1].isascii() and word[:-1].isdigit() and word[-1].upper() in "KMGTP":
        return digits_value(word[:-1]) * 1024 ** ("KMGTP".index(word[-1].upper()) + 1)
    return None


def _gres_word_ok(word: str) -> bool:
    return word != "" and all(ch in _NAME_CHARS for ch in word)


def _parse_gres_item(item: str) -> GresItem:
    parts = item.split(":")
    if len(parts) > 3 or not all(_gres_word_ok(p) for p in parts):
        raise SlurmValueError(_GRES_ERROR, 1)
    name, rest = parts[0], parts[1:]
    if not rest:
        return GresItem(name, None, 1)
    count = _gres_count(rest[-1])
    if len(rest) == 1:
        return GresItem(name, None, count) if count is not None else GresItem(name, rest[0], 1)
    if count is None:
        raise SlurmValueError(_GRES_ERROR, 1)
    return GresItem(name, rest[0], count)


def parse_gres(text: str, known: set[str] | frozenset[str] | None = None) -> list[GresItem]:
    """--gres "gpu:2", "gpu:a100:4", "gpu", "gpu:tesla:1,mps:100" -> [GresItem, ...]; "none" -> [].

    Bad syntax, or a name not in `known` (when given), raises
    SlurmValueError("Invalid generic resource (gres) specification", 1).
    """
    if text.lower() == "none":
        return []
    items = [_parse_gres_item(part) for part in text.split(",")]
    if known is not None:
        for item in items:
            if item.name not in known:
                raise SlurmValueError(_GRES_ERROR, 1)
    return items


def parse_gpus(text: str) -> list[GresItem]:
    """--gpus / --gpus-per-node / --gpus-per-task "2", "a100:2", "a100" (1), "a100:1,v100:2".

    Returns GresItem("gpu", type, count) per item; a leading "gpu:" is accepted ("gpu:2").
    Raises SlurmValueError("Invalid generic resource (gres) specification", 1).
    """
    result: list[GresItem] = []
    for part in text.split(","):
        words = part.split(":")
        if len(words) > 1 and words[0].lower() == "gpu":
            words = words[1:]
        if len(words) > 2 or not all(_gres_word_ok(w) for w in words):
            raise SlurmValueError(_GRES_ERROR, 1)
        count = _gres_count(words[-1])
        if len(words) == 2 and count is None:
            raise SlurmValueError(_GRES_ERROR, 1)
        gpu_type = words[0] if (len(words) == 2 or count is None) else None
        result.append(GresItem("gpu", gpu_type, 1 if count is None else count))
    return result


# ---------------------------------------------------------------- arrays

_ARRAY_ERROR = "Batch job submission failed: Invalid job array specification"


class ArraySpec(Record):
    """A --array request: sorted unique task ids, throttle (0 = none), canonical text "0-9%2"."""

    __slots__ = ("indices", "throttle", "text")

    def __init__(self, indices: list[int], throttle: int, text: str) -> None:
        self.indices = indices
        self.throttle = throttle
        self.text = text


def _array_token(tok: str, limit: int) -> range | None:
    """Task ids in one comma item ("[" / "]" tolerated), None when invalid; '%...' ends it."""
    if tok.startswith("["):
        tok = tok[1:]
    first, end = _strtol(tok)
    first = 0 if first is None else first

    def skip_bracket(k: int) -> int:
        return k + 1 if tok[k : k + 1] == "]" else k

    end = skip_bracket(end)
    if first < 0:
        return None
    last, step = first, 1
    if tok[end : end + 1] == "-":
        val, end = _strtol(tok, end + 1)
        last = 0 if val is None else val
        end = skip_bracket(end)
        if tok[end : end + 1] == ":":
            val, end = _strtol(tok, end + 1)
            step = 0 if val is None else val
            end = skip_bracket(end)
            if step <= 0 or step >= limit:
                return None
        if last < first:
            return None
    if tok[end:] and tok[end] != "%":
        return None
    if last >= limit:
        return None
    return range(first, last + 1, step)


def parse_array(text: str, max_array_size: int = 1001) -> ArraySpec | None:
    """--array "0-999:2%8", "1,3,5-7", "7", "0-3%" -> ArraySpec; "" -> None (not an array).

    Raises SubmitError("Batch job submission failed: Invalid job array specification", 1).
    """
    if text == "":
        return None
    ids: set[int] = set()
    for tok in text.split(","):
        if tok == "":
            continue
        found = _array_token(tok, max_array_size)
        if found is None:
            raise SubmitError(_ARRAY_ERROR, 1)
        ids.update(found)
    if not ids:
        raise SubmitError(_ARRAY_ERROR, 1)
    throttle = 0
    if "%" in text:
        val, _ = _strtol(text, text.index("%") + 1)
        throttle = max(0, min(val or 0, 2**31 - 1))
    indices = sorted(ids)
    return ArraySpec(indices, throttle, format_array_tasks(indices, throttle))


def _uniform_step(ordered: list[int]) -> int:
    """The common gap of a stepped id list as squeue abbreviates it ("0-998:2"); 0 when none.

    Only lists spanning more than 10, with more than 5 ids and a gap after the first, qualify.
    """
    if len(ordered) <= 5 or ordered[-1] - ordered[0] <= 10 or ordered[1] == ordered[0] + 1:
        return 0
    step = ordered[1] - ordered[0]
    return step if all(b - a == step for a, b in zip(ordered, ordered[1:])) else 0


def format_array_tasks(indices: list[int] | set[int] | tuple[int, ...], throttle: int = 0, bitstr_len: int = 64) -> str:
    """Task ids as squeue %i/%K and scontrol ArrayTaskId show a pending array: "0-3%2",
    "1,3,5-7", "0,5,10", "0-998:2%8" (an even step), or the first 60 characters and "..." when
    the list is longer than `bitstr_len` - 3 (SLURM_BITSTR_LEN, default 64; 0 = no limit)."""
    ordered = sorted(set(indices))
    suffix = f"%{throttle}" if throttle else ""
    if not ordered:
        return suffix
    step = _uniform_step(ordered)
    if step:
        return f"{ordered[0]}-{ordered[-1]}:{step}{suffix}"
    text = format_index_ranges(ordered)
    if bitstr_len > 0:
        limit = min(bitstr_len, 4096)
        text = text[: limit - 1]
        if len(text) > limit - 3:
            text = text[: limit - 4] + "..."
    return text + suffix


def format_index_ranges(indices: list[int] | set[int] | tuple[int, ...]) -> str:
    """Compact range text "0-3,5,7-9" for task ids (sorted, duplicates dropped)."""
    ordered = sorted(set(indices))
    pieces: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        pieces.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(pieces)


def parse_index_set(text: str) -> list[int] | None:
    """Ids in a "1-3,5" or "[1-3,5]" list (each item N or N-M, M >= N); None when malformed."""
    body = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    ids: set[int] = set()
    for item in body.split(","):
        lo, _, hi = item.partition("-")
        if not (lo.isascii() and lo.isdigit()) or (hi and not (hi.isascii() and hi.isdigit())):
            return None
        # saturating at LONG_MAX, as strtol() does: any id fits an SQLite integer
        first = min(digits_value(lo), _LONG_MAX)
        last = min(digits_value(hi), _LONG_MAX) if hi else first
        if last < first or last - first > 100_000:
            return None
        ids.update(range(first, last + 1))
    return sorted(ids)


# ---------------------------------------------------------------- signals

# The names SLURM knows (without "SIG"), with their Linux numbers.
SIGNALS: dict[str, int] = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ABRT": 6, "KILL": 9, "ALRM": 14, "TERM": 15, "USR1": 10,
    "USR2": 12, "URG": 23, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "XCPU": 24,
}  # fmt: skip


def _signal_number(text: str) -> int:
    """A signal name ("USR1", "SIGusr1") or number ("10"); 0 when unknown."""
    value, end = _strtol(text)
    if value is not None:
        return value if text[end:].strip(_C_SPACE) == "" and 1 <= value <= 64 else 0
    name = text.lstrip(_C_SPACE).rstrip(_C_SPACE).upper()
    if name.startswith("SIG"):
        name = name[3:]
    return SIGNALS.get(name, 0)


def parse_signal(text: str) -> int:
    """scancel -s / --signal: "USR1", "sigterm", "9" -> number.

    Raises SlurmValueError("Unknown job signal: <text>", 1, level="bare") (printed with no prefix).
    """
    num = _signal_number(text)
    if not num:
        raise SlurmValueError(f"Unknown job signal: {text}", 1, level="bare")
    return num


def parse_signal_spec(text: str) -> tuple[int, int, str]:
    """sbatch --signal=[{R|B}:]SIG[@secs] -> (signal number, seconds before end (default 60), flags).

    Flags is "", "B", "R" or "BR". Raises SlurmValueError("Invalid --signal specification", 255).
    """
    bad = SlurmValueError("Invalid --signal specification", 255)
    flags = ""
    s = text
    for letter in ("R", "B", "R"):
        if s[:1].upper() == letter:
            flags += letter if letter not in flags else ""
            s = s[1:]
    if s.startswith(":"):
        s = s[1:]
    sig_text, at, secs_text = s.partition("@")
    value, end = _strtol(sig_text)
    if value is not None:  # a number: SLURM keeps it as a uint16, so 65537 is 1 and -1 is 65535
        num = value % 0x10000 if sig_text[end:].strip(_C_SPACE) == "" else 0
    else:
        num = _signal_number(sig_text)
    if not num:
        raise bad
    secs = 60
    if at:
        value, end = _strtol(secs_text)
        secs = value or 0
        if secs < 0 or secs > 0xFFFF or secs_text[end:] != "":
            raise bad
    return num, secs, "".join(sorted(flags))


# ---------------------------------------------------------------- counts


def parse_count(text: str, opt: str, positive: bool = True) -> int:
    """A whole number for -n/-c/... ; `positive` refuses 0.

    As SLURM's parse_int(), the C long is returned as a C int: "4294967297" is 1 and
    "2147483648" is negative (sbatch then refuses a negative task count by itself).
    Raises SubmitError('Invalid numeric value "abc" for --ntasks.', 1) as sbatch prints it.
    """
    value, end = _strtol(text)
    value = 0 if value is None else value
    if text[end:] != "" or value < 0 or (positive and value <= 0):
        raise SubmitError(f'Invalid numeric value "{text}" for {opt}.', 1)
    if value >= _LONG_MAX:
        raise SubmitError(f"Numeric argument ({value}) to big for {opt}.", 1)
    return (value + 2**31) % 2**32 - 2**31


def _c_long(value: int) -> int:
    """`value` wrapped to a C long (64 bits), as an overflowing multiplication leaves it."""
    return (value + 2**63) % 2**64 - 2**63


def _node_number(text: str) -> tuple[int, str]:
    """A node count with optional k/m multiplier: (value, leftover); -1 when no digits.

    As SLURM's _str_to_nodes(): a C long multiplied by 1024 (and 1024*1024), returned as a C int,
    so the count always fits 32 bits ("2147483648" is negative, hence refused).
    """
    value, end = _strtol(text)
    if value is None:
        return -1, text
    rest = text[end:]
    if rest[:1] in ("k", "K"):
        value, rest = _c_long(value * 1024), rest[1:]
    if rest[:1] in ("m", "M"):
        value, rest = _c_long(value * 1024 * 1024), rest[1:]
    return (value + 2**31) % 2**32 - 2**31, rest


def parse_nodes(text: str) -> tuple[int, int]:
    """-N / --nodes "2" -> (2, 2); "1-4" -> (1, 4); "2-" -> refused; "-3" -> (1, 3).

    Raises SlurmValueError('"x" is not a valid node count', 255) or
    SlurmValueError("Maximum node count 1 is less than minimum node count 2", 255).
    """
    if "-" in text:
        min_text, _, max_text = text.partition("-")
        low, left = _node_number(min_text)
        if left.strip(_C_SPACE):
            raise SlurmValueError(f'"{min_text}" is not a valid node count', 255)
        low = max(low, 1)
        high, left = _node_number(max_text)
        if left.strip(_C_SPACE):
            raise SlurmValueError(f'"{max_text}" is not a valid node count', 255)
    else:
        low, left = _node_number(text)
        if left.strip(_C_SPACE) or low < 0:
            raise SlurmValueError(f'"{text}" is not a valid node count', 255)
        high = low
    if high != 0 and high < low:
        raise SlurmValueError(f"Maximum node count {high} is less than minimum node count {low}", 255)
    return low, high
