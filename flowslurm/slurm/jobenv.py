"""The environment of a batch job, as SLURM 22.05 builds it (shared/slurm-golden/env-vars.txt)."""

from __future__ import annotations

import os
import pwd

from flowslurm.engine.model import Job

# Variables a --export=NONE job still gets: a fresh login-like environment of the user.
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"


def login_environ(user: str, home_dir: str, shell: str, hostname: str) -> dict[str, str]:
    return {
        "HOME": home_dir,
        "HOSTNAME": hostname,
        "LOGNAME": user,
        "MAIL": f"/var/mail/{user}",
        "PATH": _DEFAULT_PATH,
        "SHELL": shell,
        "TMPDIR": "/tmp",
        "USER": user,
    }


def exported_environ(submit_env: dict[str, str], export: str, user: str, hostname: str) -> dict[str, str]:
    """Apply --export: ALL (default), NONE, or a comma list of NAMEs and NAME=value, optionally led by ALL."""
    spec = export or "ALL"
    items = [s for s in spec.split(",") if s]
    if items and items[0].upper() == "ALL":
        env = dict(submit_env)
        items = items[1:]
    else:
        try:
            entry = pwd.getpwnam(user)
            home_dir, shell = entry.pw_dir, entry.pw_shell
        except KeyError:
            home_dir, shell = submit_env.get("HOME", "/"), "/bin/sh"
        env = login_environ(user, home_dir, shell, hostname)
        if items and items[0].upper() == "NONE":
            env["SLURM_EXPORT_ENV"] = "NONE"
            env["SLURM_GET_USER_ENV"] = "1"
            items = items[1:]
    for item in items:
        name, eq, value = item.partition("=")
        if eq:
            env[name] = value
        elif name in submit_env:
            env[name] = submit_env[name]
    return env


def array_indices(spec: dict[str, object]) -> list[int] | None:
    """The task indices of the array a job belongs to (ledgers before v3 kept the list itself)."""
    if spec.get("array"):
        return list(spec["array"])  # type: ignore[call-overload]
    text = spec.get("array_text")
    if not text:
        return None
    from flowslurm.slurm.values import parse_array

    parsed = parse_array(str(text), max_array_size=1 << 31)
    return parsed.indices if parsed else None


def batch_environ(job: Job, *, cluster: str, node: str, submit_host: str) -> dict[str, str]:
    """The SLURM_* variables of a batch job's shell (not including SLURM_TASK_PID, set at launch)."""
    spec = job.spec
    env = {
        "ENVIRONMENT": "BATCH",
        "SLURMD_NODENAME": node,
        "SLURM_CLUSTER_NAME": cluster,
        "SLURM_CPUS_ON_NODE": str(job.num_cpus),
        "SLURM_GTIDS": "0",
        "SLURM_JOBID": str(job.job_id),
        "SLURM_JOB_ID": str(job.job_id),
        "SLURM_JOB_ACCOUNT": job.account,
        "SLURM_JOB_CPUS_PER_NODE": str(job.num_cpus),
        "SLURM_JOB_GID": str(job.gid),
        "SLURM_JOB_NAME": job.name,
        "SLURM_JOB_NODELIST": node,
        "SLURM_JOB_NUM_NODES": str(job.nodes),
        "SLURM_JOB_PARTITION": job.partition,
        "SLURM_JOB_QOS": job.qos,
        "SLURM_JOB_UID": str(job.uid),
        "SLURM_JOB_USER": job.user,
        "SLURM_LOCALID": "0",
        "SLURM_NNODES": str(job.nodes),
        "SLURM_NODEID": "0",
        "SLURM_NODELIST": node,
        "SLURM_NODE_ALIASES": "(null)",
        "SLURM_PRIO_PROCESS": "0",
        "SLURM_PROCID": "0",
        "SLURM_RESTART_COUNT": str(job.restart_count),
        "SLURM_SUBMIT_DIR": job.submit_dir,
        "SLURM_SUBMIT_HOST": submit_host,
        "SLURM_TASKS_PER_NODE": str(job.ntasks if spec.get("ntasks_given") else 1),
        "SLURM_TOPOLOGY_ADDR": node,
        "SLURM_TOPOLOGY_ADDR_PATTERN": "node",
        "SLURM_WORKING_CLUSTER": f"{cluster}:{node}:6817:9728:109",
    }
    if job.restart_count == 0:
        del env["SLURM_RESTART_COUNT"]  # SLURM sets it only once a job has been requeued
    if spec.get("ntasks_given"):
        env["SLURM_NTASKS"] = env["SLURM_NPROCS"] = str(job.ntasks)
    if spec.get("cpus_per_task_given"):
        env["SLURM_CPUS_PER_TASK"] = str(job.cpus_per_task)
    if job.mem_per_cpu_mb or not spec.get("mem_mb"):
        env["SLURM_MEM_PER_CPU"] = str(job.mem_per_cpu_mb or (job.mem_mb // max(job.num_cpus, 1)))
    else:
        env["SLURM_MEM_PER_NODE"] = str(job.mem_mb)
    if job.gpu_ids:
        for name in ("CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES", "SLURM_JOB_GPUS"):
            env[name] = job.gpu_ids
        env["SLURM_GPUS_ON_NODE"] = str(job.gpus)
        if spec.get("gpus_option"):
            env["SLURM_GPUS"] = str(job.gpus)
    if job.time_limit is not None and job.time_limit > 0:
        env["SLURM_JOB_END_TIME"] = str(int((job.start_time or 0) + job.time_limit * 60))
    array = array_indices(spec) if job.array_job_id is not None and job.array_task_id is not None else None
    if array:
        gaps = {b - a for a, b in zip(array, array[1:])}
        step = gaps.pop() if len(gaps) == 1 else 1
        env.update(
            SLURM_ARRAY_JOB_ID=str(job.array_job_id),
            SLURM_ARRAY_TASK_ID=str(job.array_task_id),
            SLURM_ARRAY_TASK_COUNT=str(len(array)),
            SLURM_ARRAY_TASK_MIN=str(min(array)),
            SLURM_ARRAY_TASK_MAX=str(max(array)),
            SLURM_ARRAY_TASK_STEP=str(step),
        )
    return env


def job_user() -> tuple[str, int, int, str]:
    uid, gid = os.getuid(), os.getgid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        import grp

        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return user, uid, gid, group
