"""The instance side of a Mithril job: run the job.json's job with the local backend, report, clean up.

The startup script (flowslurm.providers.mithril.startup) runs, as the SSH user, once the client's
upload is complete:

    python3 -m flowslurm.providers.mithril.agent run $FLOW_ROOT/var/lib/flowslurm/job.json

The instance is a one-node flowslurm installation (FLOWSLURM_HOME = the state dir's home/, the
node named after the instance's short hostname, its CPUs, memory and GPUs detected as the local
backend does). The job goes into that ledger under the SAME id and restart count it has on the
submitting machine, and the local backend runs it: SLURM_* are exactly a local job's, `srun`
inside the script launches steps here, the shepherd enforces the time limit. The agent then waits,
turns the client's `cancel` marker into a cancel of the local job, and when the job has ended
writes exit.json and cancels its own bid with api.key (stdlib urllib: the instance may lack httpx),
so the instance stops billing even when the submitting machine is off.

    python3 -m flowslurm.providers.mithril.agent status [STATE_DIR]

prints one JSON line for the client over SSH: {"status", "exit", "state", "job_id"}.

Paths in job.json are instance paths without the $FLOW_ROOT prefix (the contract); `local_path`
adds it. The agent only needs the standard library and the uploaded flowslurm package.
"""

from __future__ import annotations

import json
import os
import sys
import time

from flowslurm.providers.mithril import layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from flowslurm.config import Node
    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.model import Job

STATE_DIR = layout.STATE
PACKAGE_BIN = layout.PACKAGE + "/bin"
WORKSPACE_DIR = layout.WORKSPACE
OTHER_OUTPUT_DIR = layout.OTHER_OUTPUT
EXIT_STATES = frozenset({"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL"})
SYSTEM_PATHS = ("/dev/", "/proc/", "/sys/")  # the instance's own, never under FLOW_ROOT
POLL_S = 0.2
RECOVER_EVERY_S = 5.0
# The submitter's identity variables describe a machine the job is not on.
IDENTITY_VARS = ("USER", "LOGNAME")


def flow_root() -> str:
    return os.environ.get("FLOW_ROOT", "")


def local_path(path: str, root: str, base: str = "") -> str:
    """An instance path from job.json as this machine sees it: absolute ones get FLOW_ROOT in front
    (except device and proc files), relative ones are taken from `base` (the job's work dir)."""
    if not path:
        return path
    if path in ("/dev/null",) or path.startswith(SYSTEM_PATHS):
        return path
    if os.path.isabs(path):
        return root + path
    return os.path.join(base, path)


def log(message: str) -> None:
    """A line in the startup log (the agent's stderr). Never given a secret."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sys.stderr.write(f"{stamp} agent[{os.getpid()}]: {message}\n")
    sys.stderr.flush()


def _write_atomic(path: str, text: str, mode: int = 0o644) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_secret_env(state_dir: str) -> dict[str, str]:
    """env.secret, the exported variables kept out of the startup script; {} when there is none."""
    path = os.path.join(state_dir, "env.secret")
    try:
        with open(path) as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError("env.secret is not a JSON object of strings")
    log(f"env.secret: {len(data)} variable(s)")
    return data


def load_script(job: Mapping[str, Any], root: str) -> str:
    """The batch script: inline in job.json, or uploaded to `script_file` when it did not fit."""
    if job.get("script") is not None:
        return str(job["script"])
    name = job.get("script_file")
    if not name:
        raise ValueError("job.json has neither script nor script_file")
    with open(local_path(str(name), root), encoding="utf-8", errors="surrogateescape") as fh:
        return fh.read()


# ---- the job in the instance ledger ----------------------------------------------------------------

def _identity() -> tuple[str, int, int, str, str]:
    """(user, uid, gid, group, home) of the process: the job runs as this user here."""
    import pwd

    from flowslurm.slurm.jobenv import job_user

    user, uid, gid, group = job_user()
    try:
        home = pwd.getpwuid(uid).pw_dir
    except KeyError:
        home = "/"
    return user, uid, gid, group, home


def flow_image(spec: Mapping[str, Any]) -> str:
    """The container image a Flow task (or `#FLOW image=`) asked for, "" when none. It lives in the
    spec's `flow` directives, which the local backend does not read: the agent turns it into the
    job's `container_image` here, so the instance's local backend runs the job in that image as it
    runs `--container-image` (an explicit `--container-image` wins)."""
    directives = spec.get("flow") or {}
    image = directives.get("image") if isinstance(directives, dict) else None
    return str(image or "").strip()


def build_job(job: Mapping[str, Any], script: str, node: Node, root: str) -> Job:
    """The ledger row for job.json's job on this node: the submitter's spec, with this machine's paths,
    user and resources. The user is the one the job runs as here (the SSH user): SLURM_JOB_USER and
    SLURM_JOB_UID say who owns the processes, as on a cluster node. Resources are capped at the node's:
    the instance is the job's alone, and a request it cannot meet (GPUs on an emulated instance) must
    not leave the job pending forever."""
    from flowslurm.engine.spec import JobSpec
    from flowslurm.engine.submit import PRIORITY_BASE, build_jobs
    from flowslurm.errors import SubmitError

    data = dict(job.get("spec") or {})
    slots = set(JobSpec.__slots__)
    fields = {k: v for k, v in data.items() if k in slots and k not in ("script", "argv", "environ", "extra", "array")}
    extra = dict(data.get("extra") or {})
    extra.update({k: v for k, v in data.items() if k not in slots})
    image = flow_image(extra)
    if image and not extra.get("container_image"):  # `#FLOW image=`, `--image`, YAML `image:`
        extra["container_image"] = image
        log(f"the job runs in container image {image}")
    spec = JobSpec(script=script, argv=list(job.get("argv") or []), environ={}, extra=extra, **fields)
    ws = local_path(WORKSPACE_DIR, root)
    work_dir = local_path(str(job.get("work_dir") or WORKSPACE_DIR), root, ws)
    partition = spec.partition
    # What the submitting side already decided must not hold the job here: it was released to run now.
    spec.partition, spec.provider, spec.hold, spec.begin, spec.dependency, spec.nodes = "", "local", False, None, "", 1
    spec.work_dir, spec.submit_dir = work_dir, ws
    try:
        built = build_jobs(spec, node, time.time())
    except SubmitError as exc:
        log(f"the job asks more than this instance has ({exc.__class__.__name__}): it gets all of it")
        roomy = node.copy(memory_mb=1 << 40, gpus=1 << 20)
        built = build_jobs(spec, roomy, time.time())
    row = built[0]
    job_id = int(job["job_id"])
    user, uid, gid, group, _home = _identity()
    row.job_id = job_id
    row.restart_count = int(job.get("restart_count") or 0)
    if job.get("array_task_id") is not None:
        row.array_job_id = int(job.get("array_job_id") or job_id)
        row.array_task_id = int(job["array_task_id"])
    row.user, row.uid, row.gid, row.group = user, uid, gid, group
    row.partition = partition or node.partition
    if int(job.get("num_nodes") or 1) > 1 or int(data.get("nodes") or 1) > 1:
        log("a multi-node job: it runs on this instance alone, as a one-node job")
    row.nodes = 1
    wanted = (row.num_cpus, row.mem_mb, row.gpus)
    row.num_cpus = max(1, min(row.num_cpus, node.cpus))
    row.mem_mb = min(row.mem_mb, node.memory_mb)
    row.gpus = min(row.gpus, node.gpus)
    if wanted != (row.num_cpus, row.mem_mb, row.gpus):
        log(f"asked for {wanted[0]} CPUs, {wanted[1]} MiB, {wanted[2]} GPUs: capped at this instance's")
    if row.time_limit is None and job.get("time_limit_s"):
        row.time_limit = max(1, -(-int(job["time_limit_s"]) // 60))
    row.work_dir, row.submit_dir = work_dir, ws
    row.stdout = local_path(str(job.get("stdout") or f"{WORKSPACE_DIR}/slurm-{job_id}.out"), root, work_dir)
    row.stderr = local_path(str(job["stderr"]), root, work_dir) if job.get("stderr") else row.stdout
    row.stdin = local_path(str(job.get("stdin") or "/dev/null"), root, work_dir)
    other = root + OTHER_OUTPUT_DIR  # where output named outside the working directory lands (layout.py)
    for path in (row.stdout, row.stderr):
        if path.startswith(other + "/"):
            os.makedirs(other, exist_ok=True)
    row.priority = max(1, PRIORITY_BASE - job_id)
    row.spec["export"] = "ALL"  # the environment stored is already the exported one (see job_environ)
    row.spec["submitted_export"] = data.get("export", "ALL")
    return row


def job_environ(job: Mapping[str, Any], secret: Mapping[str, str], row: Job, node: Node, root: str) -> dict[str, str]:
    """The environment the job is started with, before the shepherd adds SLURM_*: the submitter's
    exported variables and secrets, --export applied, then made true of this machine: flowslurm's
    commands first on PATH (then the submitter's entries, then the instance's own), the instance's
    flowslurm settings rather than the submitter's, the user this runs as (USER, LOGNAME; HOME when
    the submitter's does not exist here), its working directory (PWD), no TMPDIR that does not exist."""
    from flowslurm.slurm import jobenv

    submitted = {k: v for k, v in dict(job.get("environ") or {}).items() if not k.startswith("FLOWSLURM_")}
    submitted.update(secret)
    export = str((job.get("spec") or {}).get("export") or "ALL")
    env = jobenv.exported_environ(submitted, export, row.user, node.name)
    entries = [local_path(PACKAGE_BIN, root)]
    for part in env.get("PATH", "").split(":") + os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        if part and part not in entries:
            entries.append(part)
    env["PATH"] = ":".join(entries)
    _user, _uid, _gid, _group, home = _identity()
    if not os.path.isdir(env.get("HOME", "")):
        env["HOME"] = home
    for name in IDENTITY_VARS:
        if name in env:
            env[name] = row.user
    if env.get("TMPDIR") and not os.path.isdir(env["TMPDIR"]):
        del env["TMPDIR"]
    env.pop("OLDPWD", None)
    env["PWD"] = row.work_dir
    for key, value in os.environ.items():  # this installation's settings, for srun/squeue inside the job
        if key.startswith("FLOWSLURM_") and key not in ("FLOWSLURM_JOB_TOKEN", "FLOWSLURM_HOME"):
            env[key] = value
    env["FLOWSLURM_NODE_NAME"] = node.name
    env["FLOWSLURM_PYTHON"] = sys.executable
    if root:  # a sandbox (the emulator): its processes are found by this variable when it stops
        env["FLOW_ROOT"] = root
    return env


def insert_job(ledger: Ledger, row: Job, script: str, argv: list[str], environ: dict[str, str]) -> bool:
    """Put `row` in the ledger under its own id (not the next free one, as submit does), with its
    script snapshot. False when that id is there already (the agent started again): left alone."""
    from flowslurm.engine.ledger import JOB_COLUMNS, _q
    from flowslurm.jsontext import dumps

    with ledger.write() as conn:
        if conn.execute("SELECT 1 FROM jobs WHERE job_id = ?", (row.job_id,)).fetchone():
            return False
        script_id = ledger.insert_script(conn, script, argv, environ)
        cols = [*JOB_COLUMNS, "spec", "script_id"]
        values = [getattr(row, c) for c in JOB_COLUMNS] + [dumps(row.spec), script_id]
        conn.execute(f"INSERT INTO jobs ({_q(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
        ledger.reserve_id(conn, row.job_id)  # jobs sbatch'ed inside take ids after it
    return True


# ---- reporting ------------------------------------------------------------------------------------

def exit_record(row: Job) -> dict[str, Any]:
    """exit.json for a finished job, from its ledger row (states outside the contract's are FAILED)."""
    end = row.end_time if row.end_time is not None else time.time()
    return {
        "state": row.state if row.state in EXIT_STATES else "FAILED",
        "exit_code": int(row.exit_code or 0),
        "signal": int(row.exit_signal or 0),
        "start_time": float(row.start_time if row.start_time is not None else end),
        "end_time": float(end),
    }


def write_exit(state_dir: str, record: Mapping[str, Any]) -> None:
    _write_atomic(os.path.join(state_dir, "exit.json"), json.dumps(dict(record)) + "\n")
    log(f"exit.json: {record['state']} {record['exit_code']}:{record['signal']}")


def self_cancel(job: Mapping[str, Any], state_dir: str, *, attempts: int = 5, timeout_s: float = 30.0,
                sleep: Callable[[float], None] = time.sleep) -> bool:
    """Cancel this instance's own bid (DELETE /v2/spot/bids/{bid}) with api.key, so it stops billing.
    The bid's fid is job.json's `bid`, else the `bid` file the client uploads (a startup script is
    written before its bid exists). True once the bid is cancelled or gone. The key is read here and
    sent only in the header."""
    import urllib.error
    import urllib.parse
    import urllib.request

    bid, api_url = str(job.get("bid") or ""), str(job.get("api_url") or "")
    if not bid:  # the startup script is written before its bid exists: the client uploads the fid
        try:
            with open(os.path.join(state_dir, "bid")) as fh:
                bid = fh.read().strip()
        except OSError:
            pass
    if not bid or not api_url:
        log("no bid or api_url in job.json: the bid cannot cancel itself")
        return False
    try:
        with open(os.path.join(state_dir, "api.key")) as fh:
            key = fh.read().strip()
    except OSError:
        key = ""
    if not key:
        log("no api.key: the bid cannot cancel itself")
        return False
    url = f"{api_url.rstrip('/')}/v2/spot/bids/{urllib.parse.quote(bid, safe='')}"
    for attempt in range(attempts):
        request = urllib.request.Request(url, method="DELETE", headers={
            "Authorization": f"Bearer {key}", "User-Agent": "flowslurm-agent"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                log(f"self-cancel: bid {bid} cancelled (HTTP {response.status})")
                return True
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                log(f"self-cancel: bid {bid} is gone already")
                return True
            if exc.code < 500 and exc.code not in (408, 429):
                log(f"self-cancel: HTTP {exc.code}; giving up")
                return False
            log(f"self-cancel: HTTP {exc.code}; trying again")
        except OSError as exc:
            log(f"self-cancel: {type(exc).__name__}; trying again")
        if attempt + 1 < attempts:
            sleep(min(2.0 ** attempt, 30.0))
    return False


def status(state_dir: str) -> dict[str, Any]:
    """What the client asks over SSH: the status word, exit.json, and the job's state here."""
    def read(name: str) -> str | None:
        try:
            with open(os.path.join(state_dir, name)) as fh:
                return fh.read()
        except OSError:
            return None

    word = read("status")
    out: dict[str, Any] = {"status": word.strip() if word else None, "exit": None, "state": None, "job_id": None}
    try:
        out["exit"] = json.loads(read("exit.json") or "null")
    except ValueError:
        pass  # being written
    try:
        out["job_id"] = int(json.loads(read("job.json") or "{}").get("job_id"))
    except (ValueError, TypeError):
        pass
    db = os.path.join(state_dir, "home", "ledger.db")
    if out["job_id"] is not None and os.path.exists(db):
        from flowslurm.engine.ledger import Ledger

        ledger = Ledger(db)
        try:
            row = ledger.conn.execute("SELECT state FROM jobs WHERE job_id = ?", (out["job_id"],)).fetchone()
            out["state"] = row[0] if row else None
        finally:
            ledger.close()
    return out


# ---- the run ---------------------------------------------------------------------------------------

def _fail(job: Mapping[str, Any], state_dir: str, why: str) -> int:
    log(f"cannot run the job: {why}")
    if not os.path.exists(os.path.join(state_dir, "exit.json")):
        now = time.time()
        write_exit(state_dir, {"state": "NODE_FAIL", "exit_code": 0, "signal": 0, "start_time": now, "end_time": now})
    self_cancel(job, state_dir)
    return 1


def run(job_path: str, *, poll_s: float = POLL_S) -> int:
    """Run job.json's job to its end, write exit.json, cancel the bid. Returns the agent's exit status."""
    from pathlib import Path

    state_dir = os.path.dirname(os.path.abspath(job_path))
    with open(job_path) as fh:
        job = json.load(fh)
    root = flow_root()
    home = os.path.join(state_dir, "home")
    os.environ["FLOWSLURM_HOME"] = home
    os.makedirs(home, mode=0o700, exist_ok=True)
    from flowslurm import config
    from flowslurm.engine import runner, submit
    from flowslurm.engine.daemon import recover
    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.model import FINISHED_STATES

    job_id = int(job["job_id"])
    try:
        node = config.node()
        script = load_script(job, root)
        row = build_job(job, script, node, root)
        environ = job_environ(job, read_secret_env(state_dir), row, node, root)
        ledger = Ledger.open(home)
        if insert_job(ledger, row, script, list(job.get("argv") or []), environ):
            log(f"job {job_id} (restart {row.restart_count}) on node {node.name}: {row.num_cpus} CPUs,"
                f" {row.mem_mb} MiB, {row.gpus} GPUs, in {row.work_dir}")
        else:
            log(f"job {job_id} is in the ledger already: following it")
        runner.after_change(ledger, home, node)
    except Exception as exc:  # noqa: BLE001 - whatever it is, the bid must not run (and bill) forever
        return _fail(job, state_dir, f"{type(exc).__name__}: {exc}")
    cancel_marker = os.path.join(state_dir, "cancel")
    cancelled = False
    next_recover = time.monotonic() + RECOVER_EVERY_S
    while True:
        found = ledger.conn.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        state = found[0] if found else "NODE_FAIL"
        if state in FINISHED_STATES:
            break
        if not cancelled and os.path.exists(cancel_marker):
            log(f"cancel marker: cancelling job {job_id}")
            submit.cancel(ledger, [job_id], os.getuid(), home=home)
            cancelled = True
        if time.monotonic() >= next_recover:  # a shepherd that died leaves the job NODE_FAIL, not running forever
            recover(ledger, Path(home))
            next_recover = time.monotonic() + RECOVER_EVERY_S
        time.sleep(poll_s)
    ended = ledger.job(job_id, with_spec=False)
    record = exit_record(ended) if ended is not None else {
        "state": "NODE_FAIL", "exit_code": 0, "signal": 0, "start_time": time.time(), "end_time": time.time()}
    write_exit(state_dir, record)
    wait_collected(state_dir, float(job.get("linger_s", LINGER_S)))
    self_cancel(job, state_dir)
    return 0


def wait_collected(state_dir: str, linger_s: float) -> bool:
    """Give the submitting machine time to copy the output's last bytes home before the bid (and
    this instance) goes: it writes `collected` once it has them, and cancels the bid itself. A
    submitter that is offline costs `linger_s` of billing, then the instance cancels itself."""
    marker = os.path.join(state_dir, "collected")
    deadline = time.monotonic() + max(0.0, linger_s)
    while not os.path.exists(marker):
        if time.monotonic() >= deadline:
            log(f"no one collected the output within {linger_s:.0f} s")
            return False
        time.sleep(0.2)
    return True


LINGER_S = 120.0  # how long a finished job's instance waits for the submitting machine

USAGE = ("usage: python3 -m flowslurm.providers.mithril.agent run JOBJSON\n"
         "       python3 -m flowslurm.providers.mithril.agent status [STATE_DIR]\n")


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "run":
        return run(argv[1])
    if argv and argv[0] == "status" and len(argv) <= 2:
        state_dir = argv[1] if len(argv) == 2 else flow_root() + STATE_DIR
        print(json.dumps(status(state_dir)))
        return 0
    sys.stderr.write(USAGE)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
