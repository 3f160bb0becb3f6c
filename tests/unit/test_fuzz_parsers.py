"""Fuzzing every SLURM value parser with generated input (issue 3 item 7, "Bad input").

The property under test: for any input a parser either returns a well-formed value or raises
its documented bad-input error, carrying SLURM's message and exit code. Any other exception
(IndexError, ValueError, OverflowError, KeyError, TypeError, RecursionError...) is a bug: it
would reach the user as "internal error". Where it is cheap, results are also checked for
consistency (sorted unique task ids within MaxArraySize, job ids that fit SQLite, round trips
through the matching formatter).

Inputs come from `random.Random(seed)` with fixed seeds, so a failure reproduces; the failure
report quotes the offending inputs with repr(). Generators mix valid grammar pieces recombined,
random printable and non-ASCII characters (Unicode digits and blanks, a lone surrogate as
surrogateescape gives for undecodable argv bytes), huge numbers (past int32, uint32, int64 and
Python's 4300-digit int() limit), empty strings, whitespace and doubled separators.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flowslurm.engine.model import TIME_LIMIT_INVALID
from flowslurm.engine.spec import JobSpec
from flowslurm.errors import SlurmInputError, SubmitError
from flowslurm.slurm import directives, jobrefs, patterns, sbatch_spec, timeparse, values
from flowslurm.slurm import opts_sacct, opts_sbatch, opts_scancel, opts_scontrol, opts_sinfo, opts_squeue
from flowslurm.slurm.options import CommandSpec, ParsedArgs, parse_args

CASES = 2500  # generated inputs per parser (and per seed-specific variant below)
NOW = 1_795_000_000.0  # 2026-11-19: a fixed clock for --begin
MAX_ARRAY_SIZE = 1001  # the oracle cluster's MaxArraySize (sbatch-errors.txt: --array=1001 is refused)
SQLITE_MAX = 2**63 - 1  # ids and counts must fit an SQLite INTEGER
INT_MAX = 2**31 - 1

ARRAY_ERROR = "Batch job submission failed: Invalid job array specification"
GRES_ERROR = "Invalid generic resource (gres) specification"
DEP_ERROR = "Batch job submission failed: Job dependency problem"

# ---------------------------------------------------------------- generators

NUMBERS = (
    "0", "1", "2", "7", "10", "59", "60", "99", "1000", "1001", "65535", "65536", "2147483647", "2147483648",
    "4294967294", "4294967295", "4294967296", "9223372036854775807", "9223372036854775808",
    "18446744073709551615", "18446744073709551616", "1" * 40, "-1", "+1", "007",
)  # fmt: skip
ODD = (
    "", " ", "  ", "\t", "\n", "\r", "\r\n", "\v", "\f", "\x00", "\x7f", "\xa0", "\u2003", "\u3000", "é", "ß",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: str.isdigit() and int() accept it, C does not
    "\u00b2",  # SUPERSCRIPT TWO: str.isdigit() accepts it, int() does not
    "\U0001d7d9",  # MATHEMATICAL DOUBLE-STRUCK DIGIT ONE
    "\uff11",  # FULLWIDTH DIGIT ONE
    "\udcff",  # a lone surrogate: what surrogateescape makes of an undecodable argv byte
    "\U0001f600", "\u202e", "\ufeff",
)  # fmt: skip
PUNCT = tuple("-:,;%_*+.?@=#[](){}<>/\\'\"!$&|~^` ")


def _huge(rng: random.Random) -> str:
    """Numbers far past any C type, and past Python's int() limit of 4300 digits."""
    return rng.choice(("9" * rng.randint(20, 200), "0" * rng.randint(20, 200) + "1", "9" * 5000, "0" * 5000 + "7"))


def _double_a_separator(rng: random.Random, text: str) -> str:
    spots = [i for i, ch in enumerate(text) if not ch.isalnum()]
    if not spots:
        return text
    i = rng.choice(spots)
    return text[: i + 1] + text[i:]


def one_input(rng: random.Random, pieces: tuple[str, ...], max_parts: int = 8) -> str:
    """One generated value: mostly grammar pieces, with numbers, odd characters and punctuation."""
    parts: list[str] = []
    for _ in range(rng.randint(0, max_parts)):
        roll = rng.random()
        if roll < 0.5:
            parts.append(rng.choice(pieces))
        elif roll < 0.65:
            parts.append(rng.choice(NUMBERS))
        elif roll < 0.77:
            parts.append(rng.choice(ODD))
        elif roll < 0.88:
            parts.append(rng.choice(PUNCT))
        elif roll < 0.97:
            parts.append(chr(rng.randint(0x20, 0x7E)))
        else:
            parts.append(_huge(rng))
    text = "".join(parts)
    roll = rng.random()
    if roll < 0.1:
        text = _double_a_separator(rng, text)
    elif roll < 0.14:
        text = text + rng.choice((",", ":", "")) + text
    elif roll < 0.18:
        text = text.swapcase()
    elif roll < 0.21:
        text = f"{rng.choice(ODD)}{text}{rng.choice(ODD)}"
    return text


def inputs(seed: int, pieces: tuple[str, ...], count: int = CASES, max_parts: int = 8) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(count):
        yield one_input(rng, pieces, max_parts)


Check = Callable[[str, Any], "str | None"]
ErrorCheck = Callable[[str, SlurmInputError], "str | None"]


def fuzz(
    parse: Callable[[str], Any],
    texts: Iterator[str],
    *,
    errors: tuple[type[SlurmInputError], ...] = (SlurmInputError,),
    check: Check | None = None,
    check_error: ErrorCheck | None = None,
) -> int:
    """Run `parse` on every text; fail listing the inputs that broke the property. Returns the count."""
    failures: list[tuple[str, str]] = []
    count = 0
    for text in texts:
        count += 1
        try:
            result = parse(text)
        except errors as err:
            problem = "empty error message" if not err.message.strip() else None
            if problem is None and check_error is not None:
                problem = check_error(text, err)
            if problem:
                failures.append((text, f"{type(err).__name__}({err.message!r}, {err.exit_code}): {problem}"))
            continue
        except Exception as exc:  # anything but the documented error is the bug under test
            failures.append((text, f"{type(exc).__name__}: {str(exc)[:200]}"))
            continue
        if check is not None:
            problem = check(text, result)
            if problem:
                failures.append((text, f"returned {result!r:.200}: {problem}"))
    assert not failures, f"{len(failures)} of {count} inputs broke the property, e.g.:\n" + "\n".join(
        f"  {text[:120]!r}{'...' if len(text) > 120 else ''} -> {what}" for text, what in failures[:8]
    )
    return count


def expect(message: str | re.Pattern[str], exit_code: int, level: str | None = None) -> ErrorCheck:
    """An error check: exactly this message (or one matching the pattern), exit code and level."""

    def check(_text: str, err: SlurmInputError) -> str | None:
        ok = message.fullmatch(err.message) if isinstance(message, re.Pattern) else err.message == message
        if not ok:
            return f"message is not {message!r}"
        if err.exit_code != exit_code:
            return f"exit code {err.exit_code}, not {exit_code}"
        if level is not None and getattr(err, "level", None) != level:
            return f"level {getattr(err, 'level', None)!r}, not {level!r}"
        return None

    return check


# ---------------------------------------------------------------- times

TIME_PIECES = ("1", "12", "00", "5", "-", ":", "UNLIMITED", "infinite", "-1", "unlimited", "INFINITE")


def _time_ok(_text: str, minutes: int | None) -> str | None:
    if minutes is None or minutes == TIME_LIMIT_INVALID:
        return None
    if not isinstance(minutes, int) or not 1 <= minutes <= INT_MAX // 60 + 1:
        return "not a whole number of minutes within SLURM's int range"
    return None


@pytest.mark.parametrize("opt", ["--time", "--time-min"])
def test_fuzz_time_limit(opt: str) -> None:
    fuzz(lambda t: timeparse.parse_time_limit(t, opt), inputs(101, TIME_PIECES),
         errors=(timeparse.SlurmValueError,), check=_time_ok,
         check_error=expect(f"Invalid {opt} specification", 255))


def test_time_limit_round_trips_through_its_formats() -> None:
    rng = random.Random(102)
    for _ in range(CASES):
        minutes = rng.choice((rng.randint(1, 100), rng.randint(1, 100_000), rng.randint(1, INT_MAX // 60)))
        for style in ("squeue", "scontrol"):
            shown = timeparse.format_time_limit(minutes, style)
            assert timeparse.parse_time_limit(shown) == minutes, (minutes, style, shown)
    assert timeparse.parse_time_limit(timeparse.format_time_limit(None)) is None


BEGIN_PIECES = (
    "now", "+", "-", "1", "12", "30", ":", "00", "hour", "hours", "days", "minutes", "seconds", "week", "teatime",
    "noon", "midnight", "fika", "today", "tomorrow", "T", "2026", "-12-", "01", "/", ".", "pm", "am", "PM", " ",
    "uts", "1795000000",
)  # fmt: skip
_BEGIN_PREAMBLE = re.compile(r"Invalid time specification \(pos=-?\d+\): .*", re.S)


@pytest.mark.parametrize("opt", ["--begin", "--deadline"])
def test_fuzz_begin_and_deadline(opt: str) -> None:
    def check_error(text: str, err: SlurmInputError) -> str | None:
        problem = expect(f"Invalid {opt} specification", 255)(text, err)
        preamble = getattr(err, "preamble", None)
        if problem is None and preamble is not None:
            if not _BEGIN_PREAMBLE.fullmatch(preamble) or not preamble.endswith(f": {text}"):
                problem = f"bad preamble {preamble!r}"
        return problem

    def check(_text: str, epoch: float) -> str | None:
        if not isinstance(epoch, float) or not math.isfinite(epoch) or abs(epoch) > 253402300799:
            return "not a finite epoch before year 10000"
        return None

    fuzz(lambda t: timeparse.parse_begin(t, NOW, opt), inputs(103 if opt == "--begin" else 104, BEGIN_PIECES),
         errors=(timeparse.SlurmValueError,), check=check, check_error=check_error)


def test_begin_uts_round_trips() -> None:
    rng = random.Random(105)
    for _ in range(CASES):
        epoch = rng.randint(1_000_000, 253402300799)
        assert timeparse.parse_begin(f"uts{epoch}", NOW) == float(epoch)


# ---------------------------------------------------------------- memory, gres, gpus, counts

MEM_PIECES = ("1", "4", "512", "4096", "K", "M", "G", "T", "P", "k", "m", "g", "t", "B", "b", "-", "+", " ")


@pytest.mark.parametrize("opt", ["--mem", "--mem-per-cpu", "--mem-per-gpu"])
def test_fuzz_memory(opt: str) -> None:
    def check(_text: str, mib: int) -> str | None:
        return None if isinstance(mib, int) and mib >= 0 else "not a non-negative MiB count"

    fuzz(lambda t: values.parse_memory(t, opt), inputs(111, MEM_PIECES), check=check,
         check_error=expect(f"Invalid {opt} specification", 255))


def test_memory_round_trips_through_format_memory() -> None:
    rng = random.Random(112)
    for _ in range(CASES):
        mib = rng.choice((rng.randint(1, 5000), rng.randint(1, 4096) * 1024, rng.randint(1, 1023) * 1024**2))
        shown = values.format_memory(mib)
        assert values.parse_memory(shown) == mib, (mib, shown)


GRES_PIECES = ("gpu", "mps", "tpu", ":", "a100", "tesla", "1", "2", "2k", "4M", ",", "none", "gpu:1", "_", ".")


def _gres_ok(_text: str, items: list[values.GresItem]) -> str | None:
    for item in items:
        if not isinstance(item, values.GresItem) or not item.name or not isinstance(item.count, int):
            return f"bad item {item!r}"
        if item.count < 0 or (item.type is not None and not item.type):
            return f"bad item {item!r}"
    return None


def test_fuzz_gres() -> None:
    fuzz(values.parse_gres, inputs(121, GRES_PIECES), check=_gres_ok, check_error=expect(GRES_ERROR, 1))
    fuzz(lambda t: values.parse_gres(t, known=frozenset({"gpu"})), inputs(122, GRES_PIECES),
         check=lambda t, items: _gres_ok(t, items) or (None if all(i.name == "gpu" for i in items) else "unknown name"),
         check_error=expect(GRES_ERROR, 1))


def test_fuzz_gpus() -> None:
    def check(text: str, items: list[values.GresItem]) -> str | None:
        return _gres_ok(text, items) or (None if items and {i.name for i in items} == {"gpu"} else "not gpus")

    fuzz(values.parse_gpus, inputs(123, GRES_PIECES), check=check, check_error=expect(GRES_ERROR, 1))


COUNT_PIECES = ("1", "2", "0", "16", "-", "+", " ", "k", "K", "m", "M")


@pytest.mark.parametrize("positive", [True, False])
def test_fuzz_count(positive: bool) -> None:
    message = re.compile(r'Invalid numeric value ".*" for --ntasks\.|Numeric argument \(\d+\) to big for --ntasks\.',
                         re.S)

    def check(text: str, value: int) -> str | None:
        # a C int, as SLURM's parse_int() returns it: "4294967297" is 1, "2147483648" negative
        if not isinstance(value, int) or not -(2**31) <= value <= INT_MAX:
            return "not a C int"
        number = values._strtol(text)[0] or 0
        return None if value == (number + 2**31) % 2**32 - 2**31 else "not the number given"

    fuzz(lambda t: values.parse_count(t, "--ntasks", positive), inputs(131 + positive, COUNT_PIECES),
         errors=(SubmitError,), check=check, check_error=expect(message, 1))


def test_fuzz_nodes() -> None:
    message = re.compile(
        r'".*" is not a valid node count|Maximum node count -?\d+ is less than minimum node count -?\d+', re.S
    )

    def check(_text: str, pair: tuple[int, int]) -> str | None:
        low, high = pair
        if not (isinstance(low, int) and isinstance(high, int)) or low < 0:
            return "bad counts"
        return None if high == 0 or high >= low else "maximum below minimum"

    fuzz(values.parse_nodes, inputs(133, COUNT_PIECES), check=check, check_error=expect(message, 255))


# ---------------------------------------------------------------- arrays and index sets

ARRAY_PIECES = ("0", "1", "3", "7", "10", "999", "1000", "1001", "-", ":", "%", ",", "[", "]", "0-3", "1-9:2", "%2")


def _array_ok(text: str, spec: values.ArraySpec | None) -> str | None:
    if spec is None:
        return None if text == "" else "None for a non-empty value"
    ids = spec.indices
    if not ids or ids != sorted(set(ids)) or not all(isinstance(i, int) and 0 <= i < MAX_ARRAY_SIZE for i in ids):
        return "task ids are not sorted unique ints in [0, MaxArraySize)"
    if not 0 <= spec.throttle <= INT_MAX:
        return "throttle out of range"
    if spec.text != values.format_array_tasks(ids, spec.throttle):
        return f"text {spec.text!r} is not the canonical form"
    if "..." not in spec.text:  # a truncated text cannot be read back
        again = values.parse_array(spec.text)
        if again is None or again.indices != ids or again.throttle != spec.throttle:
            return f"canonical text {spec.text!r} does not read back"
    return None


def test_fuzz_array() -> None:
    fuzz(values.parse_array, inputs(141, ARRAY_PIECES), errors=(SubmitError,), check=_array_ok,
         check_error=expect(ARRAY_ERROR, 1))


def test_fuzz_array_other_max_array_size() -> None:
    def check(text: str, spec: values.ArraySpec | None) -> str | None:
        if spec is not None and not all(0 <= i < 10 for i in spec.indices):
            return "task id not below MaxArraySize=10"
        return None

    fuzz(lambda t: values.parse_array(t, max_array_size=10), inputs(142, ARRAY_PIECES), errors=(SubmitError,),
         check=check, check_error=expect(ARRAY_ERROR, 1))


def test_array_round_trips_through_format_array_tasks() -> None:
    rng = random.Random(143)
    for _ in range(CASES):
        ids = sorted(rng.sample(range(MAX_ARRAY_SIZE), rng.randint(1, 30)))
        throttle = rng.choice((0, 0, 1, 4))
        text = values.format_array_tasks(ids, throttle, bitstr_len=0)
        spec = values.parse_array(text)
        assert spec is not None and (spec.indices, spec.throttle) == (ids, throttle), text
        assert values.parse_index_set(values.format_index_ranges(ids)) == ids


def test_fuzz_index_set() -> None:
    def check(_text: str, ids: list[int] | None) -> str | None:
        if ids is None:
            return None
        return None if ids == sorted(set(ids)) and all(0 <= i <= SQLITE_MAX for i in ids) else "not sorted unique ids"

    fuzz(values.parse_index_set, inputs(144, ARRAY_PIECES), errors=(), check=check)


# ---------------------------------------------------------------- signals

SIGNAL_PIECES = ("SIG", "USR1", "usr2", "TERM", "KILL", "HUP", "9", "15", "64", "65", "R", "B", ":", "@", "60", " ")


def test_fuzz_signal() -> None:
    def check_error(text: str, err: SlurmInputError) -> str | None:
        return expect(f"Unknown job signal: {text}", 1, "bare")(text, err)

    fuzz(values.parse_signal, inputs(151, SIGNAL_PIECES),
         check=lambda _t, num: None if isinstance(num, int) and 1 <= num <= 64 else "not a signal number",
         check_error=check_error)


def test_fuzz_signal_spec() -> None:
    def check(_text: str, result: tuple[int, int, str]) -> str | None:
        num, secs, flags = result
        # a signal number is kept as SLURM's uint16 (65537 is 1), a name is one of SIGNALS
        ok = 1 <= num <= 0xFFFF and 0 <= secs <= 0xFFFF and flags in ("", "B", "R", "BR")
        return None if ok else "out of range"

    fuzz(values.parse_signal_spec, inputs(152, SIGNAL_PIECES), check=check,
         check_error=expect("Invalid --signal specification", 255))


# ---------------------------------------------------------------- dependencies and job ids

DEP_PIECES = (
    "afterok", "afterany", "after", "afternotok", "aftercorr", "afterburstbuffer", "singleton", ":", "1", "12",
    "_", "*", "[", "]", "0-3", "-", ",", "?", "+", "5", "(failed)", "(", ")", "0",
)  # fmt: skip


def _dep_key(dep: jobrefs.Dependency) -> list[tuple[str, str, int, int]]:
    return [(c.kind, c.target, c.job_id, c.delay) for c in dep.clauses]


def _dep_ok(text: str, dep: jobrefs.Dependency | None) -> str | None:
    if dep is None:
        return None if text in ("", "0") else "None for a real dependency"
    if not dep.clauses:
        return "no clauses"
    for clause in dep.clauses:
        if clause.kind == "singleton":
            continue
        if not 1 <= clause.job_id <= 2**32 - 1 or clause.delay < 0:
            return f"bad clause {clause!r}"
        if clause.task is not None and not 0 <= clause.task <= SQLITE_MAX:
            return f"bad task in {clause!r}"
    shown = jobrefs.format_dependency(dep)
    again = jobrefs.parse_dependency(shown)
    if again is None or _dep_key(again) != _dep_key(dep):
        return f"{shown!r} does not read back"
    return None


def test_fuzz_dependency() -> None:
    fuzz(jobrefs.parse_dependency, inputs(161, DEP_PIECES), errors=(SubmitError,), check=_dep_ok,
         check_error=expect(DEP_ERROR, 1))


JOBID_PIECES = ("1", "12", "123", "0", "_", "*", "[", "]", "1-3", "-", ",", ".", "batch", "extern", "+", "x")
JOBID_ERRORS = {
    "scancel": (re.compile(r"Invalid job id .*", re.S), "error"),
    "squeue": (re.compile(r"Invalid job id: .*", re.S), "error"),
    "sacct": (re.compile(r"Bad job/step specified: .*|Bad step specified: .*|Bad job array element specified: .*",
                         re.S), "fatal"),
}


@pytest.mark.parametrize("command", sorted(JOBID_ERRORS))
def test_fuzz_job_ids(command: str) -> None:
    message, level = JOBID_ERRORS[command]
    lowest = 0 if command == "sacct" else 1
    # squeue reads ids into C ints: a job id is below 2**31, a task id may be negative (it matches nothing)
    highest, lowest_task = (INT_MAX, -(2**31)) if command == "squeue" else (SQLITE_MAX, 0)

    def check(_text: str, selectors: list[jobrefs.JobIdSelector]) -> str | None:
        for sel in selectors:
            if not isinstance(sel.job_id, int) or not lowest <= sel.job_id <= highest:
                return f"job id {sel.job_id!r} cannot be looked up"
            tasks = sel.tasks or ()
            if not all(isinstance(t, int) and lowest_task <= t <= SQLITE_MAX for t in tasks):
                return f"task ids {sel.tasks!r} cannot be looked up"
            if sel.step is not None and not sel.step:
                return "empty step"
        return None

    seed = 170 + sorted(JOBID_ERRORS).index(command)
    fuzz(lambda t: jobrefs.parse_job_ids([t], command), inputs(seed, JOBID_PIECES), errors=(timeparse.SlurmValueError,),
         check=check, check_error=expect(message, 1, level))


def test_job_ids_read_back() -> None:
    rng = random.Random(175)
    for _ in range(CASES // 5):
        ids = [rng.randint(1, 0x03FFFFFF) for _ in range(rng.randint(1, 5))]  # up to SLURM's MaxJobId
        for command in ("scancel", "squeue", "sacct"):
            got = [s.job_id for s in jobrefs.parse_job_ids([",".join(map(str, ids))], command)]
            assert got == (list(dict.fromkeys(ids)) if command == "sacct" else ids), (command, ids)


# ---------------------------------------------------------------- filename patterns

PATTERN_PIECES = ("%", "%%", "j", "J", "a", "A", "x", "u", "s", "t", "n", "N", "b", "4", "12", "%5j", "%10a", "\\",
                  "\\\\", "/", "out", ".", "slurm-")  # fmt: skip


def test_fuzz_patterns() -> None:
    def expand_all(text: str) -> tuple[str, ...]:
        fields: dict[str, Any] = dict(job_id=77, array_job_id=70, array_task_id=7, job_name="nm", user="me",
                                      node="n1", task_id=0)
        return (
            patterns.expand_pattern(text, **fields),
            patterns.expand_pattern(text, job_id=2**32 + 5, step_id=3),
            patterns.resolve_output_path(text, "/work", **fields),
            patterns.resolve_output_path(text, "/work/", job_id=5, step_id="batch"),
            patterns.display_path(text, "/work", **{k: fields[k] for k in ("job_id", "array_job_id", "array_task_id",
                                                                          "job_name", "user")}),
        )

    def check(text: str, out: tuple[str, ...]) -> str | None:
        if not all(isinstance(s, str) for s in out):
            return "not text"
        if "%" not in text and "\\" not in text and out[0] != text:
            return "a pattern without % changed"
        if not (out[2].startswith("/") and out[3].startswith("/") and out[4].startswith("/")):
            return "not an absolute path"
        task = patterns.single_task(text)
        if task is not None and not 0 <= task <= INT_MAX:
            return f"single task {task}"
        if (patterns.unescape(text) is None) != ("\\" not in text):
            return "unescape disagrees with the backslash rule"
        return None

    fuzz(expand_all, inputs(181, PATTERN_PIECES, max_parts=12), errors=(), check=check)


def test_pattern_step_ids() -> None:
    def check_error(_text: str, err: SlurmInputError) -> str | None:
        return None if err.message.startswith("Invalid step id: ") else "unexpected message"

    fuzz(lambda t: patterns.expand_pattern("%J.%s", job_id=1, step_id=t),
         inputs(182, ("0", "1", "batch", "12", "-", "x")), check=lambda _t, out: None if isinstance(out, str) else "?",
         check_error=check_error)


# ---------------------------------------------------------------- #SBATCH directives

WORD_PIECES = ("--time=1", "-N", "2", " ", "  ", "\t", "'", '"', "\\", "#", "a", "b c", ":", "hetjob", "packjob",
               "--wrap='x'", "=", "-", "#note")  # fmt: skip
SCRIPT_MESSAGES = {
    directives._EMPTY, directives._WHITESPACE, directives._NO_SHEBANG, directives._NUL, directives._DOS,
}
_FATAL = re.compile(r"stdin: line \d+: (Unexpected `:`|Unmatched `[\"']`) in \[.*\]", re.S)


def test_fuzz_directive_words() -> None:
    def check(_text: str, words: list[str]) -> str | None:
        return None if all(isinstance(w, str) and w for w in words) else "an empty word"

    fuzz(directives.split_directive_words, inputs(191, WORD_PIECES), errors=(directives.ScriptFatalError,),
         check=check, check_error=expect(re.compile(r"stdin: line 0: .*", re.S), 1))


SCRIPT_LINE_PIECES = ("#SBATCH", "#SLURM", "#SBATCH ", " ", "--time=1", "-J x", "hetjob", "'", '"', "\\", "#", "\n",
                      "echo hi", "\x00", "\r", "#!/bin/sh", ":", "-N 2")  # fmt: skip


def test_fuzz_scripts() -> None:
    def scan(text: str) -> tuple[list[directives.Directive], bool, bool]:
        try:
            directives.check_script(text)
            accepted = True
        except SubmitError as err:
            if err.message not in SCRIPT_MESSAGES or err.exit_code != 1:
                raise AssertionError(f"unexpected script error {err.message!r}") from None
            accepted = False
        found = directives.extract_directives(text)
        return found, directives.has_more_components(text), accepted

    def check(_text: str, result: tuple[list[directives.Directive], bool, bool]) -> str | None:
        found = result[0]
        numbers = [d.line_no for d in found]
        if numbers != sorted(set(numbers)) or any(n < 1 for n in numbers):
            return "line numbers not increasing"
        if not all(d.raw.startswith(("#SBATCH", "#SLURM")) for d in found):
            return "a directive that is not a magic line"
        if directives.directive_argv(found) != [w for d in found for w in d.words] or not all(
            w for d in found for w in d.words
        ):
            return "argv disagrees with the words"
        return None

    rng = random.Random(192)

    def scripts() -> Iterator[str]:
        for _ in range(CASES):
            lines = [one_input(rng, SCRIPT_LINE_PIECES, 5) for _ in range(rng.randint(0, 6))]
            head = rng.choice(("#!/bin/sh\n", "#!/bin/sh\n", "", "#!\n", "\n#!/bin/sh\n"))
            yield head + "\n".join(lines) + rng.choice(("", "\n"))

    fuzz(scan, scripts(), errors=(directives.ScriptFatalError,), check=check, check_error=expect(_FATAL, 1))
    # bytes (the file as read, undecodable bytes included) go the same way
    for raw in (b"#!/bin/sh\n#SBATCH --job-name=\xff\xfe\n", b"#!/bin/sh\n#SBATCH '\xc3\n", b"\xff#!/bin/sh\n"):
        try:
            directives.check_script(raw)
            directives.extract_directives(raw)
        except SlurmInputError:
            pass


# ---------------------------------------------------------------- getopt-style option parsing

SPECS: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (opts_sbatch.SPEC, opts_squeue.SPEC, opts_scancel.SPEC, opts_sacct.SPEC, opts_sinfo.SPEC,
                 opts_scontrol.SPEC)
}  # fmt: skip


def _argv(rng: random.Random, spec: CommandSpec) -> list[str]:
    longs = [name for opt in spec.options for name in opt.long_names]
    shorts = [s for opt in spec.options for s in opt.short_names]
    argv: list[str] = []
    for _ in range(rng.randint(0, 6)):
        roll = rng.random()
        if roll < 0.35 and longs:
            name = rng.choice(longs)
            name = name[: rng.randint(1, len(name))] if rng.random() < 0.3 else name
            word = f"--{name}"
            if rng.random() < 0.4:
                word += "=" + one_input(rng, NUMBERS + ("a", "x"), 3)
            argv.append(word)
        elif roll < 0.6 and shorts:
            letters = "".join(rng.choice(shorts + ["-", ":", ";", "?", "\u00e9"]) for _ in range(rng.randint(1, 3)))
            argv.append("-" + letters + (one_input(rng, ("1", "a"), 2) if rng.random() < 0.3 else ""))
        elif roll < 0.7:
            argv.append(rng.choice(("--", "-", "---", "--=", "--=x", "-=", "", " ")))
        else:
            argv.append(one_input(rng, ("a", "1", "-", "--", "=", "x"), 4))
    return argv


@pytest.mark.parametrize("name", sorted(SPECS))
def test_fuzz_option_parser(name: str) -> None:
    spec = SPECS[name]
    dests = {opt.dest for opt in spec.options}
    rng = random.Random(200 + sorted(SPECS).index(name))
    failures: list[tuple[list[str], str]] = []
    for _ in range(CASES // 2):
        argv = _argv(rng, spec)
        try:
            parsed = parse_args(spec, argv)
        except SlurmInputError as err:
            first = err.message.split("\n", 1)[0]
            if not first.startswith(f"{spec.name}: ") or err.exit_code != spec.bad_option_exit:
                failures.append((argv, f"error {err.message!r} exit {err.exit_code}"))
            continue
        except Exception as exc:  # the bug under test
            failures.append((argv, f"{type(exc).__name__}: {exc}"))
            continue
        if not isinstance(parsed, ParsedArgs) or not set(parsed.values) <= dests:
            failures.append((argv, f"stored unknown destinations {set(parsed.values) - dests}"))
        elif not all(isinstance(p, str) for p in parsed.positionals):
            failures.append((argv, "non-text positional"))
    assert not failures, "\n".join(f"  {argv!r} -> {what}" for argv, what in failures[:8])


# ---------------------------------------------------------------- sbatch: directives, environment, build

SBATCH_VALUE_PIECES = {
    "time": TIME_PIECES, "time_min": TIME_PIECES, "mem": MEM_PIECES, "mem_per_cpu": MEM_PIECES,
    "mem_per_gpu": MEM_PIECES, "gres": GRES_PIECES, "gpus": GRES_PIECES, "gpus_per_node": GRES_PIECES,
    "gpus_per_task": GRES_PIECES, "cpus_per_gpu": COUNT_PIECES, "ntasks": COUNT_PIECES, "cpus_per_task": COUNT_PIECES,
    "nodes": COUNT_PIECES, "ntasks_per_node": COUNT_PIECES, "mincpus": COUNT_PIECES, "array": ARRAY_PIECES,
    "dependency": DEP_PIECES, "begin": BEGIN_PIECES, "deadline": BEGIN_PIECES, "signal": SIGNAL_PIECES,
    "open_mode": ("append", "truncate", "a", "t", "x"), "kill_on_invalid_dep": ("yes", "no", "maybe"),
    "priority": COUNT_PIECES + ("TOP", "top"), "nice": COUNT_PIECES, "job_name": ("a", "%j", " "),
    "chdir": ("/tmp", "sub", "..", "/", "."), "output": PATTERN_PIECES, "error": PATTERN_PIECES,
    "exclusive": ("user", "mcs", ""), "export": ("ALL", "NONE", "A=1", ","),
}  # fmt: skip


def test_fuzz_sbatch_build() -> None:
    rng = random.Random(211)
    user = ("me", 1000, 1000, "me")
    failures: list[tuple[dict[str, Any], str]] = []
    for _ in range(CASES):
        chosen = rng.sample(sorted(SBATCH_VALUE_PIECES), rng.randint(1, 4))
        v: dict[str, Any] = {dest: one_input(rng, SBATCH_VALUE_PIECES[dest], 5) for dest in chosen}
        if "nice" in v and rng.random() < 0.3:
            v["nice"] = None  # --nice with no value
        try:
            spec = sbatch_spec.build(v, script="#!/bin/sh\ntrue\n", argv=[], environ={}, cwd="/tmp", command=None,
                                     user=user, now=NOW)
        except SlurmInputError as err:
            if not err.message.strip() or err.exit_code not in (1, 255):
                failures.append((v, f"error {err.message!r} exit {err.exit_code}"))
            continue
        except Exception as exc:  # the bug under test
            failures.append((v, f"{type(exc).__name__}: {exc}"))
            continue
        # what the ledger stores must fit an SQLite integer (memory is checked against the node later)
        ints = (spec.nodes, spec.ntasks, spec.cpus_per_task, spec.ntasks * spec.cpus_per_task, spec.priority, spec.nice)
        if not isinstance(spec, JobSpec) or not all(isinstance(i, int) and 0 <= abs(i) <= SQLITE_MAX for i in ints):
            failures.append((v, f"numbers that cannot be stored: {ints}"))
        elif min(spec.nodes, spec.ntasks, spec.cpus_per_task - 1, spec.mem_mb, spec.mem_per_cpu_mb) < 0:
            failures.append((v, f"a negative count: {ints}"))
        elif not 0 <= spec.priority < 0xFFFFFFFE or abs(spec.nice) > 0x80000000 - 3:
            failures.append((v, f"priority {spec.priority} / nice {spec.nice} outside SLURM's range"))
    assert not failures, "\n".join(f"  {v!r} -> {what}" for v, what in failures[:8])


def test_fuzz_sbatch_directive_lines_and_environment() -> None:
    rng = random.Random(212)
    longs = [name for opt in opts_sbatch.SPEC.options for name in opt.long_names]
    failures: list[tuple[object, str]] = []
    for _ in range(CASES // 2):
        words = [rng.choice((f"--{rng.choice(longs)}", f"--{rng.choice(longs)}={one_input(rng, NUMBERS, 2)}",
                             one_input(rng, ("-N", "-J", "x", "1", "--"), 3))) for _ in range(rng.randint(1, 4))]
        environ = {var: one_input(rng, NUMBERS + ("a",), 3)
                   for var in rng.sample(sorted(sbatch_spec.INPUT_ENV), rng.randint(0, 3))}
        try:
            sbatch_spec.parse_directives([(rng.randint(1, 50), words)])
            parse_args(opts_sbatch.SPEC, sbatch_spec.env_args(environ), immediate=False)
        except SlurmInputError as err:
            ok = err.message.startswith(("Invalid directive found in batch script: ", "sbatch: "))
            if not ok or err.exit_code != 255:
                failures.append(((words, environ), f"error {err.message!r} exit {err.exit_code}"))
        except Exception as exc:  # the bug under test
            failures.append(((words, environ), f"{type(exc).__name__}: {exc}"))
    assert not failures, "\n".join(f"  {case!r} -> {what}" for case, what in failures[:8])
