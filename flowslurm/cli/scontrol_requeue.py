"""`scontrol requeue` and `scontrol requeuehold`, as SLURM 22.05 parses and answers them.

The id handling follows src/scontrol/update_job.c (`_is_job_id`, `_next_job_id`, `scontrol_requeue`)
and slurmctld's `job_requeue2`: a plain id (or a task's own raw id) is answered with
"<error> for job <id>"; a whole array ("123") or array tasks ("123_4", "123_[1-3]") are answered
per group of tasks that got the same result, "123_1-3: <error>", printed only when something failed.
Every failure makes the exit status 1; -Q (quiet) keeps the messages back but not the status.
"""

from __future__ import annotations

from flowslurm.engine import requeue as engine

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.cli.common import Env
    from flowslurm.engine.ledger import Ledger

MIN_JOB_AGE_S = 300  # finished jobs stay known this long (slurm.conf MinJobAge)
_ACTIVE = "('PENDING','RUNNING','SUSPENDED','COMPLETING','CONFIGURING','REQUEUED','SPECIAL_EXIT')"
_MAX_ID = 2**32 - 1
SETTLE_S = 2.0  # how long scontrol waits for a running job's run to end (not for the KillWait grace)


def is_requeue_word(word: str) -> bool:
    """scontrol matches "requeue" from 3 letters on (`req`), "requeuehold" by its first 11."""
    w = word.lower()
    return len(w) >= 3 and "requeue".startswith(w)


def is_requeuehold_word(word: str) -> bool:
    return word[:11].lower() == "requeuehold"


def parse_flags(words: list[str]) -> tuple[bool, bool, int]:
    """The leading options (parse_requeue_flags): Incomplete (any prefix of it) and State=SpecialExit
    (State=SE...). Returns (incomplete, special_exit, index of the first job word)."""
    incomplete = special = False
    for i, word in enumerate(words):
        if "incomplete".startswith(word.lower()):
            incomplete = True
        elif word[:6].lower() == "state=" and (word[6:17].lower() == "specialexit" or word[6:8].lower() == "se"):
            special = True
        else:
            return incomplete, special, i
    return incomplete, special, len(words)


def split_job_list(text: str) -> list[str] | None:
    """The job ids of one argument as scontrol sends them to slurmctld, one request each: a comma
    or blank separated list; "[1-3]" before the "_" names several jobs; the brackets of a task list
    are dropped ("7_[1-3]" -> "7_1-3"). None when scontrol itself rejects the text."""
    tokens: list[str] = []
    current: list[str] = []
    brackets = 0
    have_under = have_plus = False
    for ch in text:
        if ch == "+":
            if have_plus:
                return None
            have_plus = True
        elif ch == "_":
            if have_under:
                return None
            have_under = True
        elif ch == "[":
            brackets += 1
        elif ch == "]":
            brackets -= 1
        elif ch == "-":
            if brackets == 0 and not have_under:
                return None
        elif ch in ", ":
            if brackets == 0:
                if current:
                    tokens.append("".join(current))
                current, have_plus, have_under = [], False, False
                continue
        elif not "0" <= ch <= "9":
            return None
        current.append(ch)
    if brackets != 0:
        return None
    if current:
        tokens.append("".join(current))
    out: list[str] = []
    for token in tokens:
        head, under, tail = token.partition("_")
        if tail.startswith("["):
            tail = tail[1:].split("]", 1)[0]
        suffix = f"_{tail}" if under else ""
        if "[" in head:
            prefix, _, rest = head.partition("[")
            ids = _ranges(rest.rstrip("]"))
            if ids is None or not ids:
                return None
            out.extend(f"{prefix}{i}{suffix}" for i in ids)
        else:
            out.append(head + suffix)
    return out


def _ranges(text: str, step_ok: bool = False) -> list[int] | None:
    """"1-3,5" (and, for task lists, "1-7:2") -> the numbers; None when malformed."""
    found: list[int] = []
    for item in text.split(","):
        rng, colon, step_text = item.partition(":")
        lo, dash, hi = rng.partition("-")
        if not (lo.isascii() and lo.isdigit()) or (dash and not (hi.isascii() and hi.isdigit())):
            return None
        if colon and not (step_ok and step_text.isascii() and step_text.isdigit() and int(step_text) > 0):
            return None
        first, last = int(lo), int(hi) if dash else int(lo)
        if last < first or last - first > 1_000_000:
            return None
        found.extend(range(first, last + 1, int(step_text) if colon else 1))
    return found


def _visible(ledger: Ledger, where: str, params: list[object], now: float) -> list[tuple[int, int | None, int | None]]:
    """(job id, array job id, task id) of the jobs slurmctld still knows that match."""
    return ledger.conn.execute(
        f"SELECT job_id, array_job_id, array_task_id FROM jobs WHERE ({where}) AND (state IN {_ACTIVE}"
        " OR end_time >= ?) ORDER BY array_task_id, job_id", [*params, now - MIN_JOB_AGE_S]
    ).fetchall()


def _answer(ledger: Ledger, id_text: str, asked: list[int], *, hold: bool, incomplete: bool, now: float) -> list[str]:
    """One request to the engine; the lines scontrol prints for it (empty when all went well).
    The raw ids it requeued (or asked a shepherd to) are added to `asked`."""
    head, under, tail = id_text.partition("_")
    if not (head.isascii() and head.isdigit()) or int(head) == 0 or int(head) > _MAX_ID:
        return [f"{engine.INVALID} for job {id_text}"]
    job_id = int(head)
    if not under:
        rows = _visible(ledger, "job_id = ? OR array_job_id = ?", [job_id, job_id], now)
        mine = [r for r in rows if r[0] == job_id]
        if mine and mine[0][1] != job_id:  # a plain job, or one task named by its own id
            error = engine.request(ledger, [job_id], hold=hold, incomplete=incomplete).get(job_id)
            if not error:
                asked.append(job_id)
            return [f"{error} for job {id_text}"] if error else []
        tasks = [(r[0], r[2]) for r in rows if r[1] == job_id]
        if not tasks:
            return [f"{engine.INVALID} for job {id_text}"]
        wanted: list[tuple[int | None, int]] = [(raw, task) for raw, task in tasks if task is not None]
    else:
        spec = tail[1:] if tail.startswith("*") else tail
        numbers = _ranges(spec, step_ok=True) if spec else None
        if tail.startswith("*"):
            rows = _visible(ledger, "array_job_id = ?", [job_id], now)
            numbers = [r[2] for r in rows if r[2] is not None]
        if not numbers:
            return [f"{engine.INVALID} for job {id_text}"]
        rows = _visible(ledger, "array_job_id = ?", [job_id], now)
        by_task = {r[2]: r[0] for r in rows}
        wanted = [(by_task.get(n), n) for n in sorted(set(numbers))]
    raw = [r for r, _ in wanted if r is not None]
    errors = engine.request(ledger, raw, hold=hold, incomplete=incomplete) if raw else {}
    asked.extend(r for r in raw if r not in errors)
    groups: dict[str, list[int]] = {}
    for raw_id, task in wanted:
        message = engine.INVALID if raw_id is None else errors.get(raw_id, "")
        groups.setdefault(message, []).append(task)
    if list(groups) == [""]:
        return []
    from flowslurm.slurm.values import format_index_ranges

    ordered = sorted(groups.items(), key=lambda item: min(item[1]))
    return [f"{job_id}_{format_index_ranges(tasks)}: {message or 'No error'}" for message, tasks in ordered]


def run(command: str, words: list[str], env: Env, *, quiet: bool = False) -> int:
    """`scontrol requeue|requeuehold [Incomplete] [State=SpecialExit] JOB_LIST...`."""
    if not words:
        if not quiet:
            env.stderr.write(f"too few arguments for keyword:{command}\n")
        return 1
    from flowslurm.engine.ledger import Ledger

    hold_command = is_requeuehold_word(command)
    incomplete, special_exit, first = parse_flags(words)
    # State=SpecialExit holds the job as requeuehold does (flowslurm has no SPECIAL_EXIT state of its own)
    hold = hold_command or special_exit
    ledger = Ledger.open()
    code = 0
    asked: list[int] = []
    for word in words[first:]:
        text = word
        if not hold_command and text[:6].lower() == "jobid=":  # requeue (not requeuehold) also takes JobId=/Job=
            text = text[6:]
        if not hold_command and text[:4].lower() == "job=":
            text = text[4:]
        if not text:
            code = 1
            continue
        ids = split_job_list(text)
        lines = [f"{engine.INVALID} for job {text}"] if ids is None else []
        for id_text in ids or []:
            lines += _answer(ledger, id_text, asked, hold=hold, incomplete=incomplete, now=env.now())
        if lines:
            code = 1
            if not quiet:
                env.stderr.write("".join(line + "\n" for line in lines))
    _settle(ledger, asked, env)
    return code


def _settle(ledger: Ledger, job_ids: list[int], env: Env, limit_s: float = SETTLE_S) -> None:
    """Give running jobs' shepherds a moment to end the run: slurmctld shows a requeued job PENDING
    as soon as scontrol returns, and most jobs end at their first SIGTERM. Never from inside the job
    itself (it is being ended; scontrol returns at once there, as in SLURM)."""
    token = env.environ.get("FLOWSLURM_JOB_TOKEN", "")
    if not job_ids or token.partition("-")[0] in {str(j) for j in job_ids}:
        return
    import time

    marks = ",".join("?" * len(job_ids))
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and ledger.conn.execute(
        f"SELECT COUNT(*) FROM jobs WHERE job_id IN ({marks}) AND requeue_request IS NOT NULL", job_ids
    ).fetchone()[0]:
        time.sleep(0.02)
