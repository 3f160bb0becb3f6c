"""Time values as SLURM 22.05 reads and prints them.

- `parse_time_limit` reads --time / --time-min ("M", "M:S", "H:M:S", "D-H", "D-H:M", "D-H:M:S",
  "UNLIMITED"); seconds round up to whole minutes, 0 means UNLIMITED.
- `format_time_limit`, `format_duration_squeue`, `format_duration_sacct` and `format_timestamp`
  print limits, run times and dates the way squeue, scontrol and sacct do.
- `parse_begin` reads --begin ("now+1hour", "16:00", "2026-12-01T08:00", "teatime", ...).

Everything here is pure: functions that depend on the clock take `now`.
"""

from __future__ import annotations

import time

from flowslurm.engine.model import TIME_LIMIT_INVALID
from flowslurm.errors import SlurmInputError

_INT_MAX = 2**31 - 1
_MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z
_C_SPACE = " \t\n\v\f\r"  # C isspace() in the C locale


class SlurmValueError(SlurmInputError):
    """A bad option value, with how the command must print it.

    `level` is "error" (print "<cmd>: error: <message>"), "fatal" ("<cmd>: fatal: <message>") or
    "bare" (print `message` alone). `preamble`, when set, is a line printed bare before that.
    """

    def __init__(
        self, message: str, exit_code: int = 255, *, preamble: str | None = None, level: str = "error"
    ) -> None:
        super().__init__(message, exit_code)
        self.preamble = preamble
        self.level = level


def digits_value(digits: str) -> int:
    """Value of an ASCII digit string, saturating at 10**30 (no huge-int conversions)."""
    trimmed = digits.lstrip("0")
    return int(trimmed or "0") if len(trimmed) <= 30 else 10**30


# ---------------------------------------------------------------- time limits


def _timespec_shape_ok(text: str) -> bool:
    """True when `text` only uses digits, one '-' before any ':', at most two ':' and enough numbers."""
    groups = dashes = colons = 0
    in_number = False
    for ch in text:
        if "0" <= ch <= "9":
            if not in_number:
                groups += 1
                in_number = True
            continue
        in_number = False
        if ch == "-":
            if colons:
                return False
            dashes += 1
        elif ch == ":":
            colons += 1
        else:
            return False
    if groups == 0 or dashes > 1 or colons > 2:
        return False
    needed = {0: 1, 1: 2, 2: 3}[colons] + (1 if dashes and colons else 0)
    return groups >= needed


def _timespec_seconds(text: str) -> int | None:
    """Seconds in a well-shaped time spec (see `_timespec_shape_ok`); None when not well shaped."""
    if not _timespec_shape_ok(text):
        return None
    if "-" in text:
        head, _, rest = text.partition("-")
        if head == "":  # "-N": a negative day count
            return -digits_value(rest) * 86400
        parts = [digits_value(p) for p in rest.split(":")] if rest else []
        parts += [0] * (3 - len(parts))
        return digits_value(head) * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]
    parts = [digits_value(p) for p in text.split(":")]
    if len(parts) == 3:
        return parts[0] * 3600 + parts[1] * 60 + parts[2]
    if len(parts) == 2:
        return parts[0] * 60 + parts[1]
    return parts[0] * 60


def parse_time_limit(text: str, opt: str = "--time") -> int | None:
    """Minutes for a --time value; None for UNLIMITED; TIME_LIMIT_INVALID for a negative value.

    Raises SlurmValueError("Invalid --time specification", 255) (with `opt` as the option name).
    """
    if text.lower() in ("-1", "infinite", "unlimited"):
        return None
    secs = _timespec_seconds(text)
    if secs is None or abs(secs) > _INT_MAX:
        raise SlurmValueError(f"Invalid {opt} specification", 255)
    if secs < 0:
        return TIME_LIMIT_INVALID
    minutes = (secs + 59) // 60
    return None if minutes == 0 else minutes


def _clock_short(secs: int) -> str:
    """squeue's compact clock: "M:SS", "H:MM:SS" or "D-HH:MM:SS"."""
    days, rem = divmod(secs, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{seconds:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def _clock_long(secs: int) -> str:
    """scontrol/sacct clock: "HH:MM:SS" or "D-HH:MM:SS"."""
    days, rem = divmod(secs, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def format_time_limit(minutes: int | None, style: str = "squeue") -> str:
    """A time limit as squeue %l ("1:00", style "squeue") or scontrol TimeLimit / sacct Timelimit
    ("00:01:00", style "scontrol" or "sacct") print it; "UNLIMITED" for None, "INVALID" below 0."""
    if minutes is None:
        return "UNLIMITED"
    if minutes < 0:
        return "INVALID"
    if style == "squeue":
        return _clock_short(minutes * 60)
    return _clock_long(minutes * 60)


def format_duration_squeue(seconds: float) -> str:
    """A run time as squeue %M prints it: "0:04", "1:07", "1:02:03", "2-01:02:03"."""
    secs = int(seconds)
    return "INVALID" if secs < 0 else _clock_short(secs)


def format_duration_sacct(seconds: float) -> str:
    """A run time as sacct Elapsed (and scontrol RunTime) print it: "00:00:00", "1-02:03:04"."""
    secs = int(seconds)
    return "INVALID" if secs < 0 else _clock_long(secs)


def format_timestamp(t: float | None, missing: str = "Unknown") -> str:
    """Local time as "2026-11-29T01:15:32"; `missing` ("Unknown", "N/A", "None", "") when unset.

    scontrol and sacct print unset Start/End as "Unknown", squeue %S/%e and scontrol Deadline
    print "N/A", scontrol SuspendTime prints "None". A time of 0 counts as unset.
    """
    if t is None or t <= 0:
        return missing
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))
    except (OverflowError, OSError, ValueError):
        return missing


# ---------------------------------------------------------------- --begin

_DELTA_UNITS: tuple[tuple[str, int], ...] = (
    ("seconds", 1),
    ("second", 1),
    ("minutes", 60),
    ("minute", 60),
    ("hours", 3600),
    ("hour", 3600),
    ("days", 86400),
    ("day", 86400),
    ("weeks", 604800),
    ("week", 604800),
)
# Named times of day (22.05 has no "elevenses").
_NAMED_HOURS: tuple[tuple[str, int], ...] = (("midnight", 0), ("noon", 12), ("fika", 15), ("teatime", 16))
# The longest keyword above ("tomorrow", "midnight", "minutes", ...): how far a keyword test looks.
_LONGEST_WORD = max(len(word) for word, _ in (*_DELTA_UNITS, *_NAMED_HOURS, ("tomorrow", 0)))


class _BadTime(Exception):
    """Internal: parsing failed at character `pos`."""

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


def _at(s: str, i: int) -> str:
    return s[i] if 0 <= i < len(s) else ""


def _localtime(t: int, pos: int) -> time.struct_time:
    """time.localtime, with out-of-range times reported as a parse failure at `pos`."""
    try:
        return time.localtime(t)
    except (OverflowError, OSError, ValueError):
        raise _BadTime(pos) from None


def _isdigit(ch: str) -> bool:
    return ch != "" and "0" <= ch <= "9"


def _read_delta(s: str, i: int) -> tuple[int, int]:
    """Parse "N[ unit]" after a '+'/'-' at s[i]; return (seconds, index of the last char used)."""
    count = 0
    digits = 0
    j = i + 1
    while j < len(s) and s[j] != "\n":
        if s[j] in _C_SPACE:  # C isspace(): no Unicode blanks
            j += 1
            continue
        low = s[j : j + _LONGEST_WORD].lower()  # a bounded slice: long values stay linear
        unit = next(((n, m) for n, m in _DELTA_UNITS if low.startswith(n)), None)
        if unit is not None:
            j += len(unit[0])
            count *= unit[1]
            break
        if _isdigit(s[j]):
            count = min(count * 10 + int(s[j]), 10**30)  # saturate: no quadratic big-int growth
            digits += 1
            j += 1
            continue
        raise _BadTime(j - 1)
    if not digits:
        raise _BadTime(i)
    return count, j - 1


def _read_clock(s: str, i: int) -> tuple[int, int, int, int]:
    """Parse "HH:MM[:SS] [AM|PM]" at s[i]; return (hour, minute, second, last index used)."""
    j = i
    hour = int(s[j])
    j += 1
    if _at(s, j) != ":":
        if not _isdigit(_at(s, j)):
            raise _BadTime(j)
        hour = hour * 10 + int(s[j])
        j += 1
    if hour > 23:
        raise _BadTime(j - 2)
    if _at(s, j) != ":":
        raise _BadTime(j)
    j += 1
    minute, j = _read_two(s, j, 59)
    second = 0
    if _at(s, j) == ":":
        second, j = _read_two(s, j + 1, 59)
    while j < len(s) and s[j] in _C_SPACE:
        j += 1
    suffix = s[j : j + 2].lower()
    if suffix == "pm":
        hour += 12
        if hour == 24:
            hour = 12
        elif hour > 23:
            raise _BadTime(j)
        j += 2
    elif suffix == "am":
        if hour == 12:
            hour = 0
        elif hour > 12:
            raise _BadTime(j)
        j += 2
    return hour, minute, second, j - 1


def _read_two(s: str, j: int, top: int) -> tuple[int, int]:
    """Exactly two digits at s[j] not above `top`; return (value, next index)."""
    if not (_isdigit(_at(s, j)) and _isdigit(_at(s, j + 1))):
        raise _BadTime(j if not _isdigit(_at(s, j)) else j + 1)
    value = int(s[j : j + 2])
    if value > top:
        raise _BadTime(j)
    return value, j + 2


def _read_date(s: str, i: int) -> tuple[int | None, int, int, int]:
    """Parse "YYYY-MM-DD", "MMDD[YY]", "MM/DD[/YY]" or "MM.DD[.YY]" at s[i].

    Return (year or None, month 1-12, day, last index used).
    """
    j = i
    if len(s) >= i + 7 and _at(s, i + 4) == "-" and _at(s, i + 7) == "-":
        for k in range(4):
            if not _isdigit(_at(s, j + k)):
                raise _BadTime(j + k)
        year = int(s[j : j + 4])
        j += 5
        month, j = _read_one_or_two(s, j, 1, 12)
        j += 1
        if not _isdigit(_at(s, j)):
            raise _BadTime(j)
        day, j = _read_one_or_two(s, j, 1, 31)
        return year, month, day, j - 1
    month, j = _read_one_or_two(s, j, 1, 12)
    if _at(s, j) in (".", "/"):
        j += 1
    if not _isdigit(_at(s, j)):
        raise _BadTime(j)
    day, j = _read_one_or_two(s, j, 1, 31)
    if _at(s, j) in (".", "/"):
        j += 1
    year: int | None = None
    if _isdigit(_at(s, j)):
        if not _isdigit(_at(s, j + 1)):
            raise _BadTime(j + 1)
        year = 2000 + int(s[j : j + 2])
        j += 2
    return year, month, day, j - 1


def _read_one_or_two(s: str, j: int, low: int, high: int) -> tuple[int, int]:
    """One or two digits at s[j] within [low, high]; return (value, next index)."""
    if not _isdigit(_at(s, j)):
        raise _BadTime(j)
    value = int(s[j])
    j += 1
    if _isdigit(_at(s, j)):
        value = value * 10 + int(s[j])
        j += 1
    if not low <= value <= high:
        raise _BadTime(j - 2)
    return value, j


def _begin_epoch(s: str, now: int) -> int:
    """Epoch seconds for a --begin value, 0 when it names no time; raises _BadTime."""
    if s[:3].lower() == "uts":
        digits = s[3:]
        if not digits.isdigit() or not digits.isascii() or not 1000000 <= digits_value(digits) <= _MAX_EPOCH:
            raise _BadTime(0)
        return digits_value(digits)
    today = _localtime(now, 0)
    hour = minute = month = day = -1
    second = 0
    year: int | None = None
    pos = 0
    while pos < len(s) and s[pos] != "\n":
        ch = s[pos]
        low = s[pos : pos + _LONGEST_WORD].lower()
        if ch in " \t-T":
            pos += 1
            continue
        if low.startswith("today") or low.startswith("tomorrow"):
            when = _localtime(now + (86400 if low.startswith("tomorrow") else 0), pos)
            year, month, day = when.tm_year, when.tm_mon, when.tm_mday
            pos += 5 if low.startswith("today") else 8
            continue
        named = next(((n, h) for n, h in _NAMED_HOURS if low.startswith(n)), None)
        if named is not None:
            hour, minute, second = named[1], 0, 0
            pos += len(named[0])
            continue
        if low.startswith("now"):
            delta, pos = _read_now(s, pos + 3)
            when = _localtime(now + delta, pos)
            year, month, day = when.tm_year, when.tm_mon, when.tm_mday
            hour, minute, second = when.tm_hour, when.tm_min, when.tm_sec
            pos += 1
            continue
        if not _isdigit(ch):
            raise _BadTime(pos)
        if _at(s, pos + 1) == ":" or _at(s, pos + 2) == ":":
            hour, minute, second, pos = _read_clock(s, pos)
        else:
            year, month, day, pos = _read_date(s, pos)
        pos += 1
    return _resolve(today, now, year, month, day, hour, minute, second)


def _read_now(s: str, i: int) -> tuple[int, int]:
    """After "now" (s[i] onward): optional blanks then +N/-N with a unit; (delta, last index)."""
    while True:
        ch = _at(s, i)
        if ch in ("+", "-"):
            delta, last = _read_delta(s, i)
            return (delta if ch == "+" else -delta), last
        if ch in (" ", "\t"):
            i += 1
            continue
        if ch in ("", "\n"):
            return 0, i - 1
        raise _BadTime(i)


def _resolve(
    today: time.struct_time, now: int, year: int | None, month: int, day: int, hour: int, minute: int, second: int
) -> int:
    """Fill in what the user left out (next matching day/year) and build the epoch."""
    if hour == -1 and month == -1:
        return 0
    if hour == -1:
        hour, minute = 0, 0
    elif month == -1:
        later = hour > today.tm_hour or (hour == today.tm_hour and minute > today.tm_min)
        when = today if later else _localtime(now + 86400, 0)
        year, month, day = when.tm_year, when.tm_mon, when.tm_mday
    if year is None:
        ahead = (month, day, hour, minute) > (today.tm_mon, today.tm_mday, today.tm_hour, today.tm_min)
        year = today.tm_year if ahead else today.tm_year + 1
    try:
        epoch = int(time.mktime((year, month, day, hour, minute, second, 0, 0, -1)))
    except (OverflowError, OSError, ValueError):
        raise _BadTime(0) from None
    if not -_MAX_EPOCH <= epoch <= _MAX_EPOCH:
        raise _BadTime(0)
    return epoch


def parse_begin(text: str, now: float, opt: str = "--begin") -> float:
    """Epoch seconds for an sbatch --begin (or --deadline, named by `opt`) value, relative to `now`.

    On a bad value raises SlurmValueError("Invalid <opt> specification", 255) whose
    `preamble` is the bare line "Invalid time specification (pos=N): <text>" (no preamble when
    the value names no time at all, e.g. "").
    """
    try:
        epoch = _begin_epoch(text, int(now))
    except _BadTime as bad:
        raise SlurmValueError(
            f"Invalid {opt} specification", 255, preamble=f"Invalid time specification (pos={bad.pos}): {text}"
        ) from None
    if epoch == 0:
        raise SlurmValueError(f"Invalid {opt} specification", 255)
    return float(epoch)
