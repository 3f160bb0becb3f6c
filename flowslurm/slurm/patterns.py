"""SLURM filename patterns (`--output`, `--error`, `--input`), expanded as SLURM 22.05 does.

Two expansions exist in SLURM and both are here:

* `expand_pattern` / `resolve_output_path`: what the node does when it opens the file. Replacements
  are %% %A %a %J %j %N %n %s %t %u %x, with an optional zero-padding width (`%5j`, at most 10) on the
  numeric ones. In the batch step %s is "batch", %J is the bare job id and %t / %n are 0. %b and other
  letters are left as written. A width before a letter that is not a replacement loses the `%` and all
  but the last digit (`%12b` -> `2b`), as SLURM does. A pattern holding a backslash is not expanded at
  all: `\\\\` becomes `\\` and other backslashes are dropped. A pattern that is only a number names a
  single task: other tasks write to /dev/null.
* `display_path`: what `scontrol show job` prints as StdOut/StdErr/StdIn: only %A %a %j %u %x, no
  widths, relative paths joined to the work dir.

%a for a job that is not an array task is 4294967294 (SLURM's NO_VAL), and %A is then the job id.
"""

from __future__ import annotations

from flowslurm.errors import SlurmInputError

NO_VAL = 4294967294  # what SLURM prints for "no array task id"
MAX_WIDTH = 10
DEFAULT_OUTPUT = "slurm-%j.out"
DEFAULT_ARRAY_OUTPUT = "slurm-%A_%a.out"
_C_SPACE = " \t\n\v\f\r"
_ULONG_MAX = 2**64 - 1


def default_pattern(is_array: bool) -> str:
    """The output pattern sbatch uses when neither --output nor --error names one."""
    return DEFAULT_ARRAY_OUTPUT if is_array else DEFAULT_OUTPUT


def _pad(value: int, width: int) -> str:
    return str(value).rjust(width, "0")


def _u32(value: int) -> int:
    return value % 2**32


class _Fields:
    """What the replacements of one expansion stand for."""

    __slots__ = ("job_id", "array_job_id", "array_task_id", "job_name", "user", "node", "node_index",
                 "task_id", "step_id")

    def __init__(self, job_id: int, array_job_id: int | None, array_task_id: int | None, job_name: str,
                 user: str, node: str, node_index: int, task_id: int, step_id: int | None) -> None:
        self.job_id = job_id
        self.array_job_id = array_job_id
        self.array_task_id = array_task_id
        self.job_name = job_name
        self.user = user
        self.node = node
        self.node_index = node_index
        self.task_id = task_id
        self.step_id = step_id  # None for the batch step


def _replacement(letter: str, width: int, f: _Fields) -> str | None:
    """The text for %<letter>, or None when the letter is not a replacement."""
    if letter == "a":
        return _pad(NO_VAL if f.array_task_id is None else _u32(f.array_task_id), width)
    if letter == "A":
        master = f.job_id if f.array_task_id is None or f.array_job_id is None else f.array_job_id
        return _pad(_u32(master), width)
    if letter in "jJ":
        text = _pad(_u32(f.job_id), width)
        if letter == "J" and f.step_id is not None:
            text += f".{f.step_id}"
        return text
    if letter == "s":
        return "batch" if f.step_id is None else _pad(f.step_id, width)
    if letter == "t":
        return _pad(f.task_id, width)
    if letter == "n":
        return _pad(f.node_index, width)
    if letter == "N":
        return f.node
    if letter == "u":
        return f.user
    if letter == "x":
        return f.job_name
    return None


def _read_width(pattern: str, i: int) -> tuple[int, int]:
    """Parse the digits at pattern[i:]; return (width capped at MAX_WIDTH, index after them)."""
    j = i
    while j < len(pattern) and pattern[j].isdigit() and pattern[j].isascii():
        j += 1
    digits = pattern[i:j].lstrip("0")
    # strtoul() saturates, then SLURM caps at MAX_WIDTH; no int() of thousands of digits
    return (MAX_WIDTH if len(digits) > 2 else min(int(digits or "0"), MAX_WIDTH)), j


def _expand(pattern: str, fields: _Fields) -> str:
    """Walk the pattern the way SLURM's batch/step file-name builder does."""
    out: list[str] = []
    flushed = 0  # start of the literal text not yet copied
    i = 0
    n = len(pattern)
    while i < n:
        if pattern[i] != "%":
            i += 1
            continue
        if i + 1 < n and pattern[i + 1] == "%":
            out.append(pattern[flushed:i + 1])
            i += 2
            flushed = i
            continue
        i += 1
        width = 0
        if i < n and pattern[i].isdigit() and pattern[i].isascii():
            out.append(pattern[flushed:i - 1])
            width, i = _read_width(pattern, i)
            flushed = i - 1  # SLURM keeps the last digit as literal text
        if i >= n:
            break
        text = _replacement(pattern[i], width, fields)
        if text is not None:
            out.append(pattern[flushed:i - 1])
            out.append(text)
            i += 1
            flushed = i
    out.append(pattern[flushed:])
    return "".join(out)


def _step_number(step_id: str | int | None) -> int | None:
    """None for the batch step, else the numeric step id."""
    if step_id is None or step_id == "batch":
        return None
    if isinstance(step_id, int):
        return step_id
    if not (step_id.isdigit() and step_id.isascii()) or len(step_id.lstrip("0")) > 10:
        raise SlurmInputError(f"Invalid step id: {step_id}")  # (a step id is a 32-bit number)
    return int(step_id.lstrip("0") or "0")


def expand_pattern(
    pattern: str,
    *,
    job_id: int,
    array_job_id: int | None = None,
    array_task_id: int | None = None,
    job_name: str = "",
    user: str = "",
    node: str = "",
    node_index: int = 0,
    task_id: int | None = None,
    step_id: str | int | None = None,
) -> str:
    """Expand the % replacements of a filename pattern (no directory joining, no escapes).

    `step_id` None or "batch" means the batch step; a number means an srun step.
    """
    step = _step_number(step_id)
    fields = _Fields(job_id, array_job_id, array_task_id, job_name, user, node, node_index,
                     0 if task_id is None else task_id, step)
    return _expand(pattern, fields)


def _strtoul_whole(text: str) -> int | None:
    """C's (int)strtoul(text) when the whole text converts (empty text gives 0), else None."""
    i = 0
    while i < len(text) and text[i] in _C_SPACE:
        i += 1
    negative = i < len(text) and text[i] == "-"
    if i < len(text) and text[i] in "+-":
        i += 1
    digits = text[i:]
    if not text:
        return 0
    if not digits or not (digits.isdigit() and digits.isascii()):
        return None
    significant = digits.lstrip("0")
    # strtoul() saturates; more than 20 digits are past ULONG_MAX (and past what int() takes)
    value = _ULONG_MAX if len(significant) > 20 else min(int(significant or "0"), _ULONG_MAX)
    if negative:
        value = (-value) % 2**64
    value %= 2**32
    return value - 2**32 if value >= 2**31 else value


def single_task(pattern: str) -> int | None:
    """The task id a pattern that is only a number names (its output goes to that task only)."""
    task = _strtoul_whole(pattern)
    return task if task is not None and task >= 0 else None


def unescape(pattern: str) -> str | None:
    """SLURM's escape rule: None when no backslash, else the text with escaping backslashes removed."""
    if "\\" not in pattern:
        return None
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 < len(pattern) and pattern[i + 1] == "\\":
                out.append("\\")
                i += 2
            else:
                i += 1
            continue
        out.append(pattern[i])
        i += 1
    return "".join(out)


def resolve_output_path(
    pattern: str,
    work_dir: str,
    *,
    job_id: int,
    array_job_id: int | None = None,
    array_task_id: int | None = None,
    job_name: str = "",
    user: str = "",
    node: str = "",
    node_index: int = 0,
    task_id: int | None = None,
    step_id: str | int | None = None,
) -> str:
    """The absolute file a job step opens for `pattern` (relative patterns are under `work_dir`)."""
    task = single_task(pattern)
    if task is not None and task != (task_id or 0):
        return "/dev/null"
    literal = unescape(pattern)
    prefix = ""
    if not pattern.startswith("/"):
        prefix = work_dir
        if literal is not None:
            return prefix + literal  # SLURM 22.05 adds no "/" on this path
        if not prefix.endswith("/"):
            prefix += "/"
    if literal is not None:
        return literal
    expanded = expand_pattern(
        pattern,
        job_id=job_id,
        array_job_id=array_job_id,
        array_task_id=array_task_id,
        job_name=job_name,
        user=user,
        node=node,
        node_index=node_index,
        task_id=task_id,
        step_id=step_id,
    )
    return prefix + expanded


def _replace_rescanning(text: str, token: str, value: str) -> str:
    """Replace the first `token` and search again from the start, as SLURM does (bounded here)."""
    for _ in range(len(text) + 64):
        index = text.find(token)
        if index < 0:
            break
        text = text[:index] + value + text[index + len(token):]
    return text


def display_path(
    pattern: str | None,
    work_dir: str,
    *,
    job_id: int,
    array_job_id: int | None = None,
    array_task_id: int | None = None,
    job_name: str = "",
    user: str = "",
) -> str:
    """StdOut=/StdErr=/StdIn= as `scontrol show job` prints a stored pattern.

    A None pattern gives the default name (slurm-<id>.out or slurm-<A>_<a>.out).
    """
    task_text = str(NO_VAL if array_task_id is None else _u32(array_task_id))
    if pattern is None:
        if array_job_id:
            return f"{work_dir}/slurm-{array_job_id}_{task_text}.out"
        return f"{work_dir}/slurm-{job_id}.out"
    master = job_id if array_task_id is None or array_job_id is None else array_job_id
    text = pattern
    for token, value in (("%A", str(master)), ("%a", task_text), ("%j", str(job_id)), ("%u", user)):
        text = _replace_rescanning(text, token, value)
    text = text.replace("%x", job_name)
    return text if text.startswith("/") else f"{work_dir}/{text}"
