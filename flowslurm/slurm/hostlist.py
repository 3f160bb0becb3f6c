"""SLURM hostlists: `node[1-3,5],other` <-> ["node1", "node2", "node3", "node5", "other"].

`expand` is `scontrol show hostnames`, `compress` is the text SLURM writes for a node list
(SLURM_JOB_NODELIST, `scontrol show hostlist`). The rules follow SLURM 22.05's hostlist on a
one-dimensional cluster:

* entries are separated by commas, blanks or tabs; a comma inside brackets separates ranges;
* a range takes its zero padding from its low end as written (`n[001-3]` -> n001 n002 n003);
* several bracket groups multiply out (`r[1-2]n[1-2]` -> r1n1 r1n2 r2n1 r2n2); nothing may follow the
  last `]`; a range spans at most 65536 hosts;
* a `[` with no `]` is taken literally in SLURM's odd way (`n[1` -> `n]`).

Malformed input raises HostlistError (a SlurmInputError) whose message is scontrol's
"Invalid hostlist: <text>"; `diagnostics` holds the error lines SLURM logs before it.
"""

from __future__ import annotations

from collections.abc import Iterable

from flowslurm.errors import SlurmInputError

MAX_RANGE = 64 * 1024  # hosts in one numeric range
MAX_PREFIX_CNT = 64 * 1024  # hosts named by the brackets of one prefix
MAX_HOSTS = 1_000_000  # our own bound on an expansion (SLURM has none)
_SEPARATORS = "\t, "
_C_SPACE = " \t\n\v\f\r"
_ULONG_MAX = 2**64 - 1


class HostlistError(SlurmInputError):
    """A hostlist SLURM refuses. `diagnostics`: SLURM's error() lines (print with "<cmd>: error: ")."""

    def __init__(self, text: str, diagnostics: list[str] | None = None, exit_code: int = 1) -> None:
        super().__init__(f"Invalid hostlist: {text}", exit_code)
        self.text = text
        self.diagnostics = diagnostics or []


class _BadRange(Exception):
    """Internal: a range SLURM rejects; carries SLURM's logged line (or "" when it logs none)."""


class _TooMany(Exception):
    """Internal: the list grew past MAX_HOSTS (our bound, not SLURM's)."""


class _Range:
    """prefix + numbers lo..hi printed `width` wide, or one host without a numeric suffix."""

    __slots__ = ("prefix", "lo", "hi", "width", "single")

    def __init__(self, prefix: str, lo: int = 0, hi: int = 0, width: int = 0, single: bool = False) -> None:
        self.prefix = prefix
        self.lo = lo
        self.hi = hi
        self.width = width
        self.single = single  # a host name without a numeric suffix

    def count(self) -> int:
        return 1 if self.single else self.hi - self.lo + 1

    def names(self) -> Iterable[str]:
        if self.single:
            yield self.prefix
            return
        for number in range(self.lo, self.hi + 1):
            yield f"{self.prefix}{_pad(number, self.width)}"


class _Hostlist:
    """Ranges in order, their host count, and the error lines SLURM logs while parsing."""

    __slots__ = ("ranges", "hosts", "diagnostics")

    def __init__(self, ranges: list[_Range] | None = None, hosts: int = 0,
                 diagnostics: list[str] | None = None) -> None:
        self.ranges = ranges if ranges is not None else []
        self.hosts = hosts
        self.diagnostics = diagnostics if diagnostics is not None else []

    def total(self) -> int:
        return self.hosts


def _pad(number: int, width: int) -> str:
    return str(number).rjust(width, "0")


def _zero_padded(number: int, width: int) -> int:
    """How many zeros pad `number` to `width`."""
    return max(width - len(str(number)), 0)


def _width_combine(a: _Range, b: _Range) -> bool:
    """SLURM's width equivalence of two ranges; may align one width to the other (in place)."""
    if a.width == b.width:
        return True
    a_pad, a_pad_b = _zero_padded(a.lo, a.width), _zero_padded(a.lo, b.width)
    b_pad, b_pad_a = _zero_padded(b.lo, b.width), _zero_padded(b.lo, a.width)
    if a_pad != a_pad_b and b_pad != b_pad_a:
        return False
    if a_pad != a_pad_b:
        b.width = a.width
    else:
        a.width = b.width
    return True


def _nat_char(text: str, i: int) -> str:
    return text[i] if i < len(text) else "\0"


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _compare_right(a: str, i: int, b: str, j: int) -> int:
    bias = 0
    while True:
        ca, cb = _nat_char(a, i), _nat_char(b, j)
        if not _is_digit(ca) and not _is_digit(cb):
            return bias
        if not _is_digit(ca):
            return -1
        if not _is_digit(cb):
            return 1
        if ca != cb and not bias:
            bias = -1 if ca < cb else 1
        i, j = i + 1, j + 1


def _compare_left(a: str, i: int, b: str, j: int) -> int:
    while True:
        ca, cb = _nat_char(a, i), _nat_char(b, j)
        if not _is_digit(ca) and not _is_digit(cb):
            return 0
        if not _is_digit(ca):
            return -1
        if not _is_digit(cb):
            return 1
        if ca != cb:
            return -1 if ca < cb else 1
        i, j = i + 1, j + 1


def _natcmp(a: str, b: str) -> int:
    """Natural string order as SLURM's strnatcmp (blanks skipped, digit runs by value)."""
    i = j = 0
    while True:
        ca, cb = _nat_char(a, i), _nat_char(b, j)
        while ca in _C_SPACE and ca != "\0":
            i += 1
            ca = _nat_char(a, i)
        while cb in _C_SPACE and cb != "\0":
            j += 1
            cb = _nat_char(b, j)
        if _is_digit(ca) and _is_digit(cb):
            compare = _compare_left if "0" in (ca, cb) else _compare_right
            result = compare(a, i, b, j)
            if result:
                return result
        if ca == "\0" and cb == "\0":
            return 0
        if ca != cb:
            return -1 if ca < cb else 1
        i, j = i + 1, j + 1


def _prefix_cmp(a: _Range, b: _Range) -> int:
    result = _natcmp(a.prefix, b.prefix)
    return result if result else int(b.single) - int(a.single)


def _push_range(hl: _Hostlist, new: _Range) -> None:
    """Append a range, joining it to the last one when it continues it."""
    hl.hosts += new.count()
    if hl.hosts > MAX_HOSTS:
        raise _TooMany()
    if hl.ranges:
        tail = hl.ranges[-1]
        if tail.hi == new.lo - 1 and _prefix_cmp(tail, new) == 0 and _width_combine(tail, new):
            tail.hi = new.hi
            return
    hl.ranges.append(_Range(new.prefix, new.lo, new.hi, new.width, new.single))


def _host_range(name: str) -> _Range:
    """One host name as a range: prefix plus numeric suffix, or a single host without one."""
    end = len(name)
    while end > 0 and _is_digit(name[end - 1]):
        end -= 1
    if end == len(name):
        return _Range(name, single=True)
    suffix = name[end:]
    number = min(int(suffix), _ULONG_MAX)
    return _Range(name[:end], number, number, len(suffix))


def _next_token(text: str, i: int) -> tuple[str, int] | None:
    """The next entry from text[i:] (brackets keep their commas); returns (entry, next index)."""
    n = len(text)
    while i < n and text[i] in _SEPARATORS:
        i += 1
    if i >= n:
        return None
    start = parse = i
    while True:
        while i < n and text[i] not in _SEPARATORS:
            i += 1
        extended = False
        while True:
            open_at = text.find("[", parse)
            if open_at < 0 or open_at > i:
                break
            close_at = text.find("]", parse)
            if close_at < 0 or close_at < open_at:
                break
            if close_at < i:
                parse = close_at + 1
                continue
            i = close_at
            extended = True
            break
        if not extended:
            break
    token = text[start:i]
    while i < n and text[i] in _SEPARATORS:
        i += 1
    return token, i


def _strtoul(text: str, i: int) -> tuple[int, int]:
    """C strtoul(text + i, &end, 10): (value, end index); end == i when nothing converts."""
    j = i
    while j < len(text) and text[j] in _C_SPACE:
        j += 1
    negative = j < len(text) and text[j] == "-"
    if j < len(text) and text[j] in "+-":
        j += 1
    k = j
    while k < len(text) and _is_digit(text[k]):
        k += 1
    if k == j:
        return 0, i
    value = min(int(text[j:k]), _ULONG_MAX)
    return ((-value) % 2**64 if negative else value), k


def _single_range(text: str) -> tuple[int, int, int]:
    """(lo, hi, width) of one `a` or `a-b` item between brackets."""
    bad = _BadRange(f"_parse_single_range: Invalid range: `{text}'")
    if "x" in text:
        raise bad
    low_text, dash, high_text = text.partition("-")
    if dash and high_text.startswith("-"):
        raise bad
    lo, end = _strtoul(low_text, 0)
    if end == 0:
        raise bad
    if dash and high_text:
        hi, end = _strtoul(high_text, 0)
        if end == 0 or end != len(high_text):
            raise bad
    else:
        hi = lo
        if end != len(low_text):
            raise bad
    if lo > hi:
        raise bad
    if (hi - lo + 1) % 2**64 > MAX_RANGE:
        raise _BadRange(f"_parse_single_range: Too many hosts in range `{text}'")
    return lo, hi, len(low_text)


def _range_list(text: str) -> list[tuple[int, int, int]]:
    return [_single_range(item) for item in text.split(",")]


def _push_range_list(hl: _Hostlist, prefix: str, ranges: list[tuple[int, int, int]]) -> None:
    """Push `ranges` under `prefix`, multiplying out the last bracket group of the prefix."""
    open_at = prefix.rfind("[")
    close_at = prefix.rfind("]", open_at) if open_at >= 0 else -1
    if close_at < 0:
        for lo, hi, width in ranges:
            _push_range(hl, _Range(prefix, lo, hi, width))
        return
    head, tail = prefix[:open_at], prefix[close_at + 1:]
    recurse = "[" in head
    counted = 0
    for lo, hi, width in _range_list(prefix[open_at + 1:close_at]):
        counted += hi - lo + 1
        if counted > MAX_PREFIX_CNT:
            raise _BadRange("")
        for number in range(lo, hi + 1):
            new_prefix = f"{head}{_pad(number, width)}{tail}"
            if not recurse:
                for r_lo, r_hi, r_width in ranges:
                    _push_range(hl, _Range(new_prefix, r_lo, r_hi, r_width))
                continue
            try:
                _push_range_list(hl, new_prefix, ranges)
            except _BadRange as exc:  # SLURM logs it and drops the group without failing the list
                if str(exc):
                    hl.diagnostics.append(str(exc))


def _parse(text: str, diagnostics: list[str] | None = None) -> _Hostlist:
    hl = _Hostlist(diagnostics=diagnostics if diagnostics is not None else [])
    i = 0
    try:
        while True:
            found = _next_token(text, i)
            if found is None:
                return hl
            token, i = found
            _parse_token(hl, token)
    except _BadRange as exc:
        if str(exc):
            hl.diagnostics.append(str(exc))
        raise HostlistError(text, list(hl.diagnostics)) from None
    except _TooMany:
        raise HostlistError(text, [f"hostlist names more than {MAX_HOSTS} hosts"]) from None


def _parse_token(hl: _Hostlist, token: str) -> None:
    open_at = token.rfind("[")
    if open_at < 0:
        _push_range(hl, _host_range(token))
        return
    prefix, inner = token[:open_at], token[open_at + 1:]
    close_at = inner.find("]")
    if close_at < 0:
        # SLURM cut the entry at "[" and then appends "]" to what is left
        _push_range(hl, _host_range(prefix + "]" if prefix else inner))
        return
    if close_at + 1 != len(inner) and inner[close_at + 1] != ",":
        raise _BadRange("")
    _push_range_list(hl, prefix, _range_list(inner[:close_at]))


def count(text: str) -> int:
    """How many names `text` holds (duplicates included), without expanding it."""
    return _parse(text).total()


def expand(text: str, diagnostics: list[str] | None = None) -> list[str]:
    """The host names of a hostlist, in order, duplicates kept (`scontrol show hostnames`).

    SLURM logs some errors yet goes on; pass a list as `diagnostics` to receive those lines.
    """
    hl = _parse(text, diagnostics)
    return [name for r in hl.ranges for name in r.names()]


def _range_cmp(a: _Range, b: _Range) -> int:
    result = _prefix_cmp(a, b)
    if result == 0:
        result = a.lo - b.lo if _width_combine(a, b) else a.width - b.width
    return result


def _numbers(r: _Range) -> str:
    if r.lo < r.hi:
        return f"{_pad(r.lo, r.width)}-{_pad(r.hi, r.width)}"
    return _pad(r.lo, r.width)


def _same_bracket(a: _Range, b: _Range | None) -> bool:
    return b is not None and _prefix_cmp(a, b) == 0 and not a.single and not b.single


def _ranged(ranges: list[_Range]) -> str:
    parts: list[str] = []
    i = 0
    while i < len(ranges):
        first = ranges[i]
        if first.single:
            parts.append(first.prefix)
            i += 1
            continue
        following = ranges[i + 1] if i + 1 < len(ranges) else None
        bracket = first.count() > 1 or _same_bracket(first, following)
        numbers = [_numbers(first)]
        i += 1
        while i < len(ranges) and _same_bracket(ranges[i], ranges[i - 1]):
            numbers.append(_numbers(ranges[i]))
            i += 1
        body = ",".join(numbers)
        parts.append(f"{first.prefix}[{body}]" if bracket else f"{first.prefix}{body}")
    return ",".join(parts)


def _intersect(a: _Range, b: _Range) -> _Range | None:
    """The hosts a (sorted first) and b share, when SLURM sees an overlap."""
    if a.single or b.single:
        return None
    if a.hi > b.lo and _prefix_cmp(a, b) == 0 and _width_combine(a, b):
        return _Range(a.prefix, b.lo, min(a.hi, b.hi), a.width)
    return None


def _coalesce(ranges: list[_Range]) -> None:
    """Split overlapping neighbours apart, as SLURM's hostlist_coalesce (duplicates are kept)."""
    i = len(ranges) - 1
    while i > 0:
        shared = _intersect(ranges[i - 1], ranges[i])
        if shared is None:
            i -= 1
            continue
        before, after = ranges[i - 1], ranges[i]
        if shared.hi < before.hi:
            after.hi = before.hi
        before.hi = shared.lo
        after.lo = shared.hi
        if before.hi < before.lo:
            del ranges[i]
        singles: list[_Range] = []
        for number in range(shared.lo, shared.hi + 1):
            copies = int(number > before.hi) + int(number < after.lo)
            singles.extend(_Range(shared.prefix, number, number, shared.width) for _ in range(copies))
        ranges[i:i] = singles
        i = len(ranges) - 1


def _collapse(ranges: list[_Range]) -> None:
    """Join neighbours that continue each other."""
    for i in range(len(ranges) - 1, 0, -1):
        before, after = ranges[i - 1], ranges[i]
        if before.hi == after.lo - 1 and _prefix_cmp(before, after) == 0 and _width_combine(before, after):
            before.hi = after.hi
            del ranges[i]


def _sorted(hl: _Hostlist) -> _Hostlist:
    """SLURM's hostlist_sort: ranges in natural order, overlaps split, neighbours joined."""
    from functools import cmp_to_key  # only sorting needs it

    ranges = [_Range(r.prefix, r.lo, r.hi, r.width, r.single) for r in hl.ranges]
    if len(ranges) > 1:
        ranges.sort(key=cmp_to_key(_range_cmp))
        _coalesce(ranges)
        _collapse(ranges)
    return _Hostlist(ranges, hl.hosts)


def compress(names: Iterable[str], *, sort: bool = False) -> str:
    """SLURM's ranged text for host names (`n1,n2,n3,x` -> `n[1-3],x`), in the given order.

    With sort=True the names are first put in SLURM's hostlist order (natural order of prefixes).
    """
    hl = _Hostlist()
    for name in names:
        if not isinstance(name, str) or not name:
            raise HostlistError(str(name))
        try:
            _push_range(hl, _host_range(name))
        except _TooMany:
            raise HostlistError(name, [f"more than {MAX_HOSTS} hosts"]) from None
    return _ranged(_sorted(hl).ranges if sort else hl.ranges)


def normalize(text: str, *, sort: bool = False, diagnostics: list[str] | None = None) -> str:
    """`scontrol show hostlist` (sort=False) or `hostlistsorted` (sort=True) of a hostlist text."""
    hl = _parse(text, diagnostics)
    if sort:
        hl = _sorted(hl)
    return _ranged(hl.ranges)
