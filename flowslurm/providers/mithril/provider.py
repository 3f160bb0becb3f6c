"""The Mithril provider: a job is a spot bid whose startup script runs it (flowslurm.providers.base).

- place: the cheapest instance type that fits the job's request, from the cached catalog.
- start: a bid named by the engine's start key (create_bid finds an earlier attempt by that name,
  so a retried start never makes a second bid), with a startup script that holds the job's
  description, the user's SSH key, and a Flow task's volumes (attached to every instance of the bid).
- poll: every live bid's instances in ceil(N/100) listing requests.
- cancel: DELETE the bid (and revoke the job's own API key); an already-gone bid is fine.
- connect / upload: what the shepherd (flowslurm.providers.mithril.shepherd) does over SSH; the
  working directory is left out when the task said `upload_code=False` / `#FLOW upload-code=no`.
"""

from __future__ import annotations

import json
import os
import time

from flowslurm import config
from flowslurm.providers import base
from flowslurm.providers.mithril import layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.model import Job
    from flowslurm.engine.spec import JobSpec
    from flowslurm.providers.mithril.api import MithrilClient
    from flowslurm.providers.mithril.models import Instance
    from flowslurm.providers.mithril.remote import Remote
    from flowslurm.providers.mithril.settings import Settings

BOOTING = ("STATUS_NEW", "STATUS_CONFIRMED", "STATUS_INITIALIZING", "STATUS_STARTING", "STATUS_RELOCATING",
           "STATUS_PAUSED")
LOST = ("STATUS_PREEMPTING", "STATUS_PREEMPTED")
ENDED = ("STATUS_STOPPING", "STATUS_TERMINATED", "STATUS_REPLACED", "STATUS_ERROR")
API_KEY_LIFETIME_S = 8 * 24 * 3600  # longer than any spot job is likely to wait and run


class MithrilProvider:
    name = "mithril"
    shepherd_module = "flowslurm.providers.mithril.shepherd"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: MithrilClient | None = None
        self._project: str | None = None

    # ---- plumbing -----------------------------------------------------------------------------

    @property
    def client(self) -> MithrilClient:
        if self._client is None:
            from flowslurm.providers.mithril.api import MithrilClient

            self._client = MithrilClient(api_key=self.settings.api_key_value() or "", base_url=self.settings.api_url)
        return self._client

    @property
    def project(self) -> str:
        if self._project is None:
            if self.settings.project:
                self._project = self.client.find_project(self.settings.project).fid
            else:
                from flowslurm.providers.mithril.errors import NotFoundError

                projects = self.client.list_projects()
                if len(projects) != 1:
                    names = ", ".join(sorted(p.name for p in projects)) or "none"
                    raise NotFoundError(
                        f"which Mithril project? the API key's projects are: {names}",
                        ["Set MITHRIL_PROJECT, or `mithril: project:` in config.yaml"], operation="find project")
                self._project = projects[0].fid
        return self._project

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _mithril_dir(self) -> str:
        path = os.path.join(config.home_dir(), "mithril")
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def _ssh_key(self) -> tuple[str, str]:
        from flowslurm.providers.mithril.sshkey import ensure_ssh_key

        key_path, fid = ensure_ssh_key(self.client, self.settings, self.project,
                                       os.path.join(self._mithril_dir(), "keys"))
        return str(key_path), fid

    # ---- the contract -------------------------------------------------------------------------

    def place(self, spec: JobSpec) -> base.Placement:
        from flowslurm.providers.mithril.catalog import load_catalog
        from flowslurm.providers.mithril.placement import Request, choose, describe
        from flowslurm.providers.mithril.settings import effective_partition

        if spec.nodes > 1:  # one node runs the script, srun fans out: not built for instances yet
            from flowslurm.errors import SubmitError

            raise SubmitError(f"the Mithril backend runs one-node jobs for now (asked: -N {spec.nodes})\n"
                              "Batch job submission failed: Node count specification invalid")
        directives = spec.extra.get("flow") or {}
        request = Request.from_spec(spec)
        chosen = choose(request, load_catalog(self.client), self.settings, directives)
        details = {
            "instance_type": chosen.instance_type, "instance_type_name": chosen.instance_type_name,
            "region": chosen.region, "instance_quantity": chosen.instance_quantity,
            "limit_price": chosen.limit_price, "spot_price_cents": chosen.spot_price_cents,
            "requeue": bool(directives.get("requeue", self.settings.requeue)),  # after a preemption
        }
        partition = effective_partition(spec.partition, directives) or "mithril"
        return base.Placement(partition, describe(chosen), details)

    def start(self, job: base.StartJob) -> base.Handle:
        from flowslurm.providers.mithril.models import LaunchSpecification, dollars_to_cents
        from flowslurm.providers.mithril.secrets import split_secrets
        from flowslurm.providers.mithril.startup import build_startup_script

        placed = job.job.spec["placement"]
        _, key_fid = self._ssh_key()
        from flowslurm.providers.mithril.startup import StartupScriptTooLarge

        public_env, _secret = split_secrets(job.environ)
        try:
            script = build_startup_script(self._job_json(job, public_env))
        except StartupScriptTooLarge:  # the environment travels over SSH alone (upload sends it all)
            script = build_startup_script(self._job_json(job, {}))
        bid = self.client.create_bid(
            project=self.project, region=placed["region"], instance_type=placed["instance_type"],
            limit_price=placed["limit_price"], instance_quantity=int(placed["instance_quantity"]),
            name=job.start_key, idempotency_key=job.start_key,
            launch_specification=LaunchSpecification(volumes=task_volumes(job.job), ssh_keys=(key_fid,),
                                                     startup_script=script),
        )
        spot = placed.get("spot_price_cents")
        price = (spot / 100.0) * int(placed["instance_quantity"]) if spot else dollars_to_cents(bid.limit_price) / 100.0
        return base.Handle(job.job.job_id, bid.fid, job.start_key, price_per_hour=price,
                           instance_type=placed.get("instance_type_name"), region=placed["region"])

    def _job_json(self, start: base.StartJob, environ: dict[str, str]) -> dict[str, Any]:
        job = start.job
        placed = job.spec["placement"]
        return {
            "job_id": job.job_id, "restart_count": job.restart_count or 0, "name": job.name, "user": job.user,
            "script": start.script, "argv": list(start.argv), "environ": environ, "spec": dict(job.spec),
            "work_dir": layout.WORKSPACE, "stdout": layout.instance_path(job.stdout, job.work_dir),
            "stderr": layout.instance_path(job.stderr or job.stdout, job.work_dir),
            "stdin": layout.instance_path(job.stdin or "/dev/null", job.work_dir),
            "time_limit_s": None if job.time_limit is None else int(job.time_limit) * 60,
            "bid": None, "bid_name": start.start_key, "api_url": self.settings.api_url,
            "ssh_user": self.settings.ssh_user, "num_nodes": int(placed["instance_quantity"]),
            "array_job_id": job.array_job_id, "array_task_id": job.array_task_id,
        }

    def poll(self, handles: Sequence[base.Handle]) -> dict[int, base.Observation]:
        live = [h for h in handles if h.ref]
        found = self.client.instances_by_bid(self.project, [h.ref for h in live if h.ref])
        return {h.job_id: _observe(h, found.get(h.ref or "", [])) for h in live}

    def cancel(self, handle: base.Handle) -> None:
        from flowslurm.providers.mithril.errors import NotFoundError

        refs = [handle.ref] if handle.ref else [  # a start whose answer was lost: find it by its name
            b.fid for b in self.client.iter_bids(project=self.project, name=handle.name) if b.status != "Terminated"]
        for ref in refs:
            try:
                self.client.cancel_bid(ref)
            except NotFoundError:
                pass
        if handle.key_ref:
            try:
                self.client.revoke_api_key(handle.key_ref)
            except NotFoundError:
                pass

    # ---- what the shepherd does ---------------------------------------------------------------

    def connect(self, destination: str, instance: str, deadline_s: float) -> Remote:
        from pathlib import Path

        from flowslurm.providers.mithril.remote import Remote

        key_path, _ = self._ssh_key()
        return Remote.connect(destination, self.settings.ssh_user, key_path,
                              Path(self._mithril_dir()) / "known_hosts", instance, deadline_s)

    def upload(self, remote: Remote, job: Job, ledger: Ledger) -> None:
        """Everything the startup script waits for, then the `ready` marker last."""
        from pathlib import Path

        from flowslurm.providers.mithril import upload
        from flowslurm.providers.mithril.startup import SCRIPT_FILE

        script_id = ledger.internal(job.job_id, "script_id")[0]
        text, _argv, environ = ledger.script(script_id)
        upload.upload_package(remote, layout.PACKAGE)
        work = Path(job.work_dir)
        files: list[Path | tuple[Path, str]] = []
        if uploads_code(job):
            files.extend(upload.collect(work))
            if job.spec.get("open_mode") != "append":  # the run starts them afresh: an old copy there would
                outputs = {Path(local) for _, local in layout.output_pairs(job)}  # read as this run's output
                files = [f for f in files if isinstance(f, tuple) or work / f not in outputs]
        sent = {work / f for f in files if not isinstance(f, tuple)}
        files.extend(pair for pair in needed_files(job) if pair[0] not in sent)
        upload.upload_tree(remote, work, layout.WORKSPACE, files)  # makes the workspace even when empty
        # The script and the whole environment go over SSH too (0600): the startup script may have
        # had to leave them out to stay under Mithril's size limit; secrets are only ever sent here.
        remote.put_bytes(text.encode("utf-8", "surrogateescape"), SCRIPT_FILE, 0o700)
        remote.put_bytes(json.dumps(environ).encode(), f"{layout.STATE}/env.secret", 0o600)
        key = self._job_api_key(job, ledger)
        if key:
            remote.put_bytes(key.encode(), f"{layout.STATE}/api.key", 0o600)
        bid = ledger.conn.execute("SELECT bid FROM cloud WHERE job_id = ?", (job.job_id,)).fetchone()
        if bid and bid[0]:
            remote.put_bytes(bid[0].encode(), f"{layout.STATE}/bid", 0o644)
        remote.put_bytes(b"", f"{layout.STATE}/ready", 0o644)

    def _job_api_key(self, job: Job, ledger: Ledger) -> str | None:
        """A key of the job's own, for the instance to cancel its bid when this machine is off; the
        user's own key never leaves this machine. None when the account may not make keys."""
        from flowslurm.providers.mithril.errors import MithrilError

        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + API_KEY_LIFETIME_S))
        try:
            made = self.client.create_api_key(f"flowslurm-job-{job.job_id}", expires)
        except MithrilError:
            return None
        if made.secret is None:
            return None
        with ledger.write() as conn:
            conn.execute("UPDATE cloud SET api_key_fid = ? WHERE job_id = ?", (made.fid, job.job_id))
        return made.secret.reveal()


def task_volumes(job: Job) -> tuple[str, ...]:
    """The volume fids a Flow task attaches (spec `volumes`, resolved at submit by
    flowslurm.api.submission, each with its volume_id and mount_path): they go in the bid's launch
    specification, so every instance of the bid (a requeued run's too) boots with them."""
    found: list[str] = []
    for entry in job.spec.get("volumes") or ():
        fid = entry.get("volume_id") if isinstance(entry, dict) else None
        if fid and str(fid) not in found:
            found.append(str(fid))
    return tuple(found)


def uploads_code(job: Job) -> bool:
    """False when the task said not to upload its working directory (`upload_code=False`,
    `flow run --no-upload-code`, `#FLOW upload-code=no`): its code is on the image or the volumes."""
    directives = job.spec.get("flow") or {}
    return not (isinstance(directives, dict) and directives.get("upload_code") is False)


def needed_files(job: Job) -> list[tuple[Path, str]]:
    """(local path, path under the workspace) of the files the run reads whatever is uploaded: its
    stdin file, and in append mode the output files it appends to (the copy home continues after
    their bytes). Sent even without the code upload, and when `.flowignore` leaves them out."""
    from pathlib import Path

    wanted = [job.stdin or "/dev/null"]
    if job.spec.get("open_mode") == "append":
        wanted.extend(local for _, local in layout.output_pairs(job))
    pairs: list[tuple[Path, str]] = []
    prefix = layout.WORKSPACE + "/"
    for local in wanted:
        local = os.path.join(job.work_dir, local)  # as the run resolves a relative name
        if local == "/dev/null" or not os.path.isfile(local):
            continue
        target = layout.instance_path(local, job.work_dir)
        if target.startswith(prefix) and all(p[0] != Path(local) for p in pairs):
            pairs.append((Path(local), target[len(prefix):]))
    return pairs


def _observe(handle: base.Handle, instances: list[Instance]) -> base.Observation:
    """A bid's phase from its instances: none yet is an Open bid (waiting); the handle's own
    instance preempted (the bid reopens for a new one) is a preemption of this run."""
    if not instances:
        return base.Observation(base.WAITING, status="Open")
    mine = [i for i in instances if handle.instance is None or i.fid == handle.instance] or instances
    statuses = {i.status for i in mine}
    first = sorted(mine, key=lambda i: i.created_at)[0]
    if handle.instance is not None and (statuses & set(LOST) or handle.instance not in {i.fid for i in instances}):
        return base.Observation(base.PREEMPTED, first.fid, status=first.status)
    if statuses & set(LOST):
        return base.Observation(base.PREEMPTED, first.fid, status=first.status)
    if statuses <= set(ENDED) and not statuses <= {"STATUS_STOPPING"}:
        return base.Observation(base.GONE, first.fid, status=first.status)
    if statuses == {"STATUS_RUNNING"} and all(i.ssh_destination for i in mine):
        return base.Observation(base.READY, first.fid, first.ssh_destination, first.status)
    return base.Observation(base.BOOTING, first.fid, first.ssh_destination, first.status)


def provider() -> MithrilProvider:
    from flowslurm.providers.mithril.settings import load_settings

    return MithrilProvider(load_settings())
