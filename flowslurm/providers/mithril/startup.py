"""The startup script of a job's bid: what a Mithril instance runs as root when it boots.

Mithril has no notion of a job: a bid's instance boots, runs its startup script, and keeps running
(and billing) until the bid is cancelled. So the script turns the instance into a one-job SLURM
node that cleans up after itself, even when the submitting machine is off:

  1. it writes job.json (the contract's job description) from a copy embedded in the script,
     creates the state, package and workspace directories and hands them to the SSH user;
  2. it waits, bounded, for the client to upload the flowslurm package, the workspace, env.secret
     and api.key and to create `ready` (no upload within 30 minutes: NODE_FAIL, self-cancel);
  3. it runs the agent (flowslurm.providers.mithril.agent) as the SSH user, which runs the job
     through the local backend and writes exit.json;
  4. it arms a backstop: once the time limit plus a grace has passed with no exit.json, every
     process of the job is killed, exit.json says TIMEOUT and the bid cancels itself.

Every absolute path is prefixed with $FLOW_ROOT (empty on a real instance; a sandbox in the
emulator and in tests). Every value taken from the job is shell-quoted, and nothing secret is
in the script: Mithril stores it with the bid (see `secrets.split_secrets`).

Mithril takes at most 10,000 characters of startup script. `render` picks the first form that
fits: the script itself (under 9,000), a gzip+base64 bootstrap that unpacks it, or, for a batch
script too big even for that, job.json without the batch script (`script_file` names where the
client must upload it instead). `build_startup_script` and `needs_script_upload` are the two
answers the client needs; `render` gives both at once."""

from __future__ import annotations

from flowslurm.record import FrozenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

MAX_CHARS = 10_000  # Mithril's documented limit for a startup script
INLINE_MAX_CHARS = 9_000  # a margin under it, as flow-compute keeps
STATE_DIR = "/var/lib/flowslurm"
PACKAGE_DIR = "/opt/flowslurm"
WORKSPACE_DIR = "/workspace"
LOG_FILE = "/var/log/flowslurm/startup.log"
SCRIPT_FILE = STATE_DIR + "/script"  # where the client uploads a batch script left out of job.json

DEFAULT_GRACE_S = 300  # after the time limit, before the backstop: the shepherd's own TIMEOUT comes first
DEFAULT_UPLOAD_WAIT_S = 1800
DEFAULT_KILL_WAIT_S = 30  # between SIGTERM and SIGKILL, as the local backend's KillWait
DEFAULT_POLL_S = 1.0


class StartupScriptTooLarge(ValueError):
    """Even without the batch script, the startup script is over Mithril's limit (a huge environment)."""


class StartupScript(FrozenRecord):
    """A rendered startup script. `strategy` is "inline" or "gzip"; `script_upload` says the batch
    script is not in `job` (the job.json embedded) and must be uploaded to $FLOW_ROOT + SCRIPT_FILE."""

    __slots__ = ("text", "strategy", "script_upload", "job")

    def __init__(self, text: str, strategy: str, script_upload: bool, job: dict[str, Any]) -> None:
        init = object.__setattr__
        init(self, "text", text)
        init(self, "strategy", strategy)
        init(self, "script_upload", script_upload)
        init(self, "job", job)

    if TYPE_CHECKING:
        text: str
        strategy: str
        script_upload: bool
        job: dict[str, Any]


def size(text: str) -> int:
    """What counts against the limit: UTF-8 bytes, never fewer than characters."""
    return len(text.encode("utf-8", "surrogateescape"))


def render(
    job: Mapping[str, Any], *, grace_s: int = DEFAULT_GRACE_S, upload_wait_s: int = DEFAULT_UPLOAD_WAIT_S,
    kill_wait_s: int = DEFAULT_KILL_WAIT_S, poll_s: float = DEFAULT_POLL_S,
) -> StartupScript:
    """The startup script for a job.json (the contract's), in the first form that fits 10,000 chars.

    The keyword arguments exist so tests can shrink the waits; the defaults are for real bids."""
    knobs = dict(grace_s=grace_s, upload_wait_s=upload_wait_s, kill_wait_s=kill_wait_s, poll_s=poll_s)
    embedded = dict(job)
    for upload in (False, True):
        if upload:
            if "script" not in embedded:
                break
            embedded.pop("script")
            embedded["script_file"] = SCRIPT_FILE
        text = main_script(embedded, **knobs)
        if size(text) <= INLINE_MAX_CHARS:
            return StartupScript(text, "inline", upload, embedded)
        boot = compressed(text, int(job["job_id"]))
        if size(boot) <= MAX_CHARS:
            return StartupScript(boot, "gzip", upload, embedded)
    raise StartupScriptTooLarge(
        f"the startup script of job {job.get('job_id')} is over {MAX_CHARS} characters even compressed and without"
        " its batch script: its exported environment is too large (try --export with fewer variables)"
    )


def build_startup_script(job: Mapping[str, Any], **knobs: Any) -> str:
    """The startup script's text (see `render`; `needs_script_upload` says whether it left the batch
    script out, which the client then uploads to $FLOW_ROOT/var/lib/flowslurm/script)."""
    return render(job, **knobs).text


def needs_script_upload(job: Mapping[str, Any], **knobs: Any) -> bool:
    """Whether the client must upload the batch script (job["script"]) to $FLOW_ROOT + SCRIPT_FILE
    before creating `ready`: the startup script for this job had no room for it."""
    return render(job, **knobs).script_upload


# ---- the script --------------------------------------------------------------------------------

_MAIN = r"""#!/bin/bash
# flowslurm: SLURM job @JOB_ID@ on this Mithril instance. Generated by
# flowslurm.providers.mithril.startup; runs as root at boot. FLOW_ROOT prefixes every path.
R="${FLOW_ROOT:-}"
S="$R/var/lib/flowslurm"
SSH_USER=@SSH_USER@
API_URL=@API_URL@
BID=@BID@
LIMIT_S=@LIMIT_S@
GRACE_S=@GRACE_S@
UPLOAD_WAIT_S=@UPLOAD_WAIT_S@
KILL_WAIT_S=@KILL_WAIT_S@
POLL_S=@POLL_S@
mkdir -p "$S" "$R/opt/flowslurm" "$R/workspace" "$R/var/log/flowslurm" || exit 1
exec </dev/null >>"$R/var/log/flowslurm/startup.log" 2>&1
trap '' HUP
log() { printf '%s startup[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$*"; }
put() { printf '%s\n' "$2" >"$S/.$1.tmp" && mv -f "$S/.$1.tmp" "$S/$1"; }
ended() {  # STATE EXIT_CODE SIGNAL [START]: exit.json, unless the agent wrote one
  [ -e "$S/exit.json" ] && return 0
  local t; t=$(date +%s)
  put exit.json "{\"state\": \"$1\", \"exit_code\": $2, \"signal\": $3, \"start_time\": ${4:-$t}, \"end_time\": $t}"
  log "the job ended: $1"
}
self_cancel() {  # DELETE the bid with the uploaded api.key (never on a command line, never logged)
  local bid="$BID"
  [ -n "$bid" ] || bid=$(cat "$S/bid" 2>/dev/null)  # a bid's fid is known only once it exists: uploaded
  if [ -z "$bid" ] || [ -z "$API_URL" ]; then log "no bid or api_url: the bid cannot cancel itself"; return 0; fi
  if [ ! -s "$S/api.key" ]; then log "no api.key: the bid cannot cancel itself"; return 0; fi
  python3 - "$S/api.key" "$API_URL" "$bid" <<'PY' || log "self-cancel failed"
import sys, time, urllib.error, urllib.parse, urllib.request
key = open(sys.argv[1]).read().strip()
url = sys.argv[2].rstrip("/") + "/v2/spot/bids/" + urllib.parse.quote(sys.argv[3], safe="")
for attempt in range(5):
    req = urllib.request.Request(url, method="DELETE", headers={"Authorization": "Bearer " + key})
    try:
        urllib.request.urlopen(req, timeout=30).close()
        print("self-cancel: bid cancelled"); sys.exit(0)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            print("self-cancel: the bid is gone already"); sys.exit(0)
        if exc.code < 500 and exc.code not in (408, 429):
            print("self-cancel: HTTP %d" % exc.code); sys.exit(1)
        print("self-cancel: HTTP %d, trying again" % exc.code)
    except OSError as exc:
        print("self-cancel: %s, trying again" % type(exc).__name__)
    time.sleep(2 ** attempt)
sys.exit(1)
PY
}
finish() { ended "$@"; self_cancel; put status done; log done; exit 0; }
sweep() {  # SIGNAL: the agent's process group and every process of the job (all carry FLOWSLURM_HOME);
  local p found=1  # true when some process was left to signal
  [ -n "${agent:-}" ] && kill "-$1" -- "-$agent" 2>/dev/null && found=0
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    grep -qzxF "FLOWSLURM_HOME=$S/home" "$p/environ" 2>/dev/null && kill "-$1" "${p#/proc/}" 2>/dev/null && found=0
  done
  return $found
}

log "boot: job @JOB_ID@"
if [ -e "$S/exit.json" ]; then log "the job had ended before this boot"; finish; fi
if [ "$(cat "$S/status" 2>/dev/null)" = running ]; then log "the instance restarted under the job"; finish NODE_FAIL 0 0; fi
put status booting
put job.json @JOB_JSON@
AS=()
if [ "$(id -u)" = 0 ] && [ -n "$SSH_USER" ] && id -u "$SSH_USER" >/dev/null 2>&1; then
  chown "$SSH_USER:" "$S" "$R/opt/flowslurm" "$R/workspace" || log "chown failed"
  if command -v runuser >/dev/null; then AS=(runuser -u "$SSH_USER" --)
  else AS=(su -s /bin/sh "$SSH_USER" -c 'exec "$0" "$@"'); fi
  runs_as=$SSH_USER
else
  runs_as=$(id -un)
fi
put status waiting-upload
log "waiting for the upload (ready), at most ${UPLOAD_WAIT_S}s"
deadline=$((SECONDS + UPLOAD_WAIT_S))
until [ -e "$S/ready" ]; do
  [ -e "$S/cancel" ] && { log "cancelled before it started"; finish CANCELLED 0 0; }
  [ "$SECONDS" -ge "$deadline" ] && { log "no upload within ${UPLOAD_WAIT_S}s"; finish NODE_FAIL 0 0; }
  sleep "$POLL_S"
done
put status running
started=$(date +%s)
log "starting the agent as $runs_as"
FLOWSLURM_HOME="$S/home" setsid -w "${AS[@]}" env FLOWSLURM_HOME="$S/home" PYTHONPATH="$R/opt/flowslurm" \
  python3 -m flowslurm.providers.mithril.agent run "$S/job.json" &
agent=$!
[ -n "$LIMIT_S" ] && kill_at=$((SECONDS + LIMIT_S + GRACE_S))
while kill -0 "$agent" 2>/dev/null; do
  if [ -n "$LIMIT_S" ] && [ "$SECONDS" -ge "$kill_at" ] && [ ! -e "$S/exit.json" ]; then
    log "time limit (${LIMIT_S}s) and grace (${GRACE_S}s) are over: ending the job"
    sweep CONT; sweep TERM
    t=$((SECONDS + KILL_WAIT_S))
    while [ "$SECONDS" -lt "$t" ] && sweep 0; do sleep "$POLL_S"; done  # KillWait, as SLURM gives
    sweep KILL
    finish TIMEOUT 0 15 "$started"
  fi
  sleep "$POLL_S"
done
wait "$agent"; rc=$?
if [ ! -e "$S/exit.json" ]; then log "the agent ended (exit $rc) without exit.json"; sweep KILL; finish NODE_FAIL 0 0 "$started"; fi
put status done
log "done (agent exit $rc)"
"""

_BOOT = r"""#!/bin/bash
# flowslurm: SLURM job @JOB_ID@ on this Mithril instance; the script is gzip+base64 to fit Mithril's
# 10,000 characters. Generated by flowslurm.providers.mithril.startup.
S="${FLOW_ROOT:-}/var/lib/flowslurm"
mkdir -p "$S" || exit 1
(umask 077 && base64 -d <<'FLOWSLURM_PAYLOAD' | gzip -dc >"$S/startup.sh") || exit 1
@PAYLOAD@FLOWSLURM_PAYLOAD
exec bash "$S/startup.sh"
"""


def _quote(value: object) -> str:
    import shlex

    return shlex.quote("" if value is None else str(value))


def _seconds(value: object) -> str:
    """A non-negative whole number of seconds (the script's arithmetic is on integers), or ''."""
    if value is None or value == "":
        return "''"
    number = int(float(value))  # type: ignore[arg-type]
    if number < 0:
        raise ValueError(f"a negative number of seconds: {value!r}")
    return str(number)


def main_script(job: Mapping[str, Any], *, grace_s: int = DEFAULT_GRACE_S, upload_wait_s: int = DEFAULT_UPLOAD_WAIT_S,
                kill_wait_s: int = DEFAULT_KILL_WAIT_S, poll_s: float = DEFAULT_POLL_S) -> str:
    """The startup script itself, before any size handling."""
    import json

    poll = float(poll_s)
    if not 0 < poll <= 60:
        raise ValueError(f"poll_s must be in (0, 60]: {poll_s!r}")
    values = {
        "@JOB_ID@": str(int(job["job_id"])),
        "@SSH_USER@": _quote(job.get("ssh_user") or ""),
        "@API_URL@": _quote(job.get("api_url") or ""),
        "@BID@": _quote(job.get("bid") or ""),
        "@LIMIT_S@": _seconds(job.get("time_limit_s")),
        "@GRACE_S@": _seconds(grace_s),
        "@UPLOAD_WAIT_S@": _seconds(upload_wait_s),
        "@KILL_WAIT_S@": _seconds(kill_wait_s),
        "@POLL_S@": _quote(f"{poll:g}"),
        # ASCII only (\uXXXX escapes), so the script's size in bytes is its size in characters
        "@JOB_JSON@": _quote(json.dumps(dict(job), ensure_ascii=True, separators=(",", ":"))),
    }
    text = _MAIN
    for mark, value in values.items():
        text = text.replace(mark, value)
    return text


def compressed(text: str, job_id: int) -> str:
    """A bootstrap holding `text` as gzip -9 (mtime 0: the same script gives the same bytes) + base64."""
    import base64
    import gzip

    payload = base64.encodebytes(gzip.compress(text.encode("utf-8", "surrogateescape"), 9, mtime=0)).decode()
    return _BOOT.replace("@JOB_ID@", str(int(job_id))).replace("@PAYLOAD@", payload)
