"""`scontrol show` text in SLURM 22.05's layout: jobs, the partition, the node and the configuration.

Pure functions over the job model and `config.Node`; the caller gathers what changes (the clock,
the node's load and free memory, what running jobs hold). A record is a list of lines; it is
printed with continuation lines indented by three spaces, or on one line with `-o`.
"""

from __future__ import annotations

from flowslurm.engine.model import RUNNING_STATES, raw_id
from flowslurm.slurm.patterns import display_path
from flowslurm.slurm.timeparse import format_duration_sacct, format_time_limit, format_timestamp
from flowslurm.slurm.values import format_memory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.config import Node
    from flowslurm.engine.model import Job

VERSION = "22.05.8"
MIN_JOB_AGE_S = 300
MAX_ARRAY_SIZE = 1001
_FINISHED_RUNNING = RUNNING_STATES


def render_record(lines: list[str], oneliner: bool = False) -> str:
    """One record: lines joined by "\\n   " and ended by a blank line, or joined by blanks (-o)."""
    if oneliner:
        return " ".join(lines) + "\n"
    return "\n   ".join(lines) + "\n\n"


# ---------------------------------------------------------------- jobs


def _end_time(job: Job) -> str:
    if job.end_time is not None:
        return format_timestamp(job.end_time)
    if job.state in _FINISHED_RUNNING and job.start_time and job.time_limit is not None and job.time_limit > 0:
        return format_timestamp(job.start_time + job.time_limit * 60)
    return "Unknown"


def _memory_field(job: Job) -> str:
    """MinMemoryNode= when --mem was given, else MinMemoryCPU= (also SLURM's DefMemPerCPU default)."""
    spec = job.spec or {}
    if spec.get("mem_mb") and not job.mem_per_cpu_mb:
        return f"MinMemoryNode={format_memory(job.mem_mb)}"
    per_cpu = job.mem_per_cpu_mb or (job.mem_mb // max(job.num_cpus, 1) if job.mem_mb else 0)
    return f"MinMemoryCPU={format_memory(per_cpu)}"


def job_tres(job: Job) -> str:
    """TRES= of a job: "cpu=1,mem=1G,node=1,billing=1" (plus gres/gpu=N)."""
    text = f"cpu={job.num_cpus},mem={format_memory(job.mem_mb)},node={job.nodes},billing={job.num_cpus}"
    if job.gpus:
        text += f",gres/gpu={job.gpus}"
    return text


def _first_line(job: Job) -> str:
    if job.array_job_id is None:
        return f"JobId={job.job_id} JobName={job.name}"  # (not an array: its own id)
    if job.array_task_id is None:
        head = (f"JobId={raw_id(job.job_id, job.array_job_id)} ArrayJobId={job.array_job_id}"
                f" ArrayTaskId={job.array_spec or ''}")
        if job.array_throttle:
            head += f" ArrayTaskThrottle={job.array_throttle}"
        return f"{head} JobName={job.name}"
    return (f"JobId={raw_id(job.job_id, job.array_job_id)} ArrayJobId={job.array_job_id}"
            f" ArrayTaskId={job.array_task_id} JobName={job.name}")


def _opt(value: object) -> str:
    return "(null)" if value in (None, "") else str(value)


def job_lines(job: Job, *, now: float, alloc_host: str = "localhost", details: bool = False) -> list[str]:
    """The lines of `scontrol show job` for one job (or one folded pending array record)."""
    spec = job.spec or {}
    pending = job.state == "PENDING"
    held = bool(job.held)
    eligible = None if held else job.eligible_time
    time_min = spec.get("time_min")
    deadline = spec.get("deadline")
    last_eval = job.start_time or job.eligible_time or job.submit_time
    exit_code = f"{job.exit_code or 0}:{job.exit_signal or 0}"
    lines = [
        _first_line(job),
        f"UserId={job.user}({job.uid}) GroupId={job.group or job.user}({job.gid}) MCS_label=N/A",
        f"Priority={job.priority} Nice={int(spec.get('nice') or 0)} Account={job.account} QOS={job.qos}",
        f"JobState={job.state} Reason={job.reason or 'None'} "
        f"Dependency={job.dependency if pending and job.dependency else '(null)'}",
        f"Requeue={int(bool(job.requeue))} Restarts={job.restart_count} BatchFlag=1 Reboot=0 ExitCode={exit_code}",
    ]
    if details:
        lines.append(f"DerivedExitCode={job.derived_exit_code}:{job.derived_exit_signal}")
    lines += [
        f"RunTime={format_duration_sacct(job.elapsed(now))} TimeLimit={format_time_limit(job.time_limit, 'scontrol')} "
        f"TimeMin={'N/A' if time_min is None else format_time_limit(int(time_min), 'scontrol')}",
        f"SubmitTime={format_timestamp(job.submit_time)} EligibleTime={format_timestamp(eligible)}",
        f"AccrueTime={format_timestamp(eligible)}",
        f"StartTime={format_timestamp(job.start_time)} EndTime={_end_time(job)} "
        f"Deadline={format_timestamp(deadline, 'N/A') if deadline else 'N/A'}",
        f"SuspendTime=None SecsPreSuspend=0 LastSchedEval={format_timestamp(last_eval)} Scheduler=Main",
        f"Partition={job.partition} AllocNode:Sid={alloc_host}:{int(spec.get('sid') or 0)}",
        f"ReqNodeList={_opt(spec.get('nodelist'))} ExcNodeList={_opt(spec.get('exclude'))}",
        f"NodeList={'' if pending else job.node_list}",
    ]
    if job.batch_host and not pending:
        lines.append(f"BatchHost={job.batch_host}")
    lines += [
        f"NumNodes={job.nodes} NumCPUs={job.num_cpus} NumTasks={job.ntasks} CPUs/Task={job.cpus_per_task} "
        "ReqB:S:C:T=0:0:*:*",
        f"TRES={job_tres(job)}",
        "Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=*",
    ]
    if details and job.state in _FINISHED_RUNNING and job.node_list:
        gres = f"gpu:{job.gpus}(IDX:{job.gpu_ids})" if job.gpus and job.gpu_ids else ""
        lines += [f"JOB_GRES={'gpu:' + str(job.gpus) if job.gpus else '(null)'}",
                  f"  Nodes={job.node_list} CPU_IDs={'0' if job.num_cpus == 1 else f'0-{job.num_cpus - 1}'} "
                  f"Mem={job.mem_mb} GRES={gres}"]
    lines += [
        f"MinCPUsNode={job.cpus_per_task} {_memory_field(job)} MinTmpDiskNode=0",
        f"Features={_opt(spec.get('constraint'))} DelayBoot=00:00:00",
        f"OverSubscribe=OK Contiguous=0 Licenses={_opt(spec.get('licenses'))} Network=(null)",
        f"Command={_opt(job.command)}",
        f"WorkDir={job.work_dir}",
    ]
    if job.comment:
        lines.append(f"Comment={job.comment} ")
    path_args = dict(job_id=raw_id(job.job_id, job.array_job_id), array_job_id=job.array_job_id,
                     array_task_id=job.array_task_id,
                     job_name=job.name, user=job.user)
    out_pattern = spec.get("output") or None
    err_pattern = spec.get("error") or out_pattern
    lines += [
        f"StdErr={display_path(err_pattern, job.work_dir, **path_args)}",  # type: ignore[arg-type]
        f"StdIn={job.stdin or '/dev/null'}",
        f"StdOut={display_path(out_pattern, job.work_dir, **path_args)}",  # type: ignore[arg-type]
        "Power=",
    ]
    if job.tres_per_node:
        lines.append(f"TresPerNode={job.tres_per_node}")
    lines.append("")  # SLURM ends each job record with an empty line of its own
    return lines


def render_jobs(jobs: list[Job], *, now: float, oneliner: bool = False, details: bool = False,
                alloc_host: str = "localhost") -> str:
    """`scontrol show job` for these jobs; "No jobs in the system" when there are none."""
    if not jobs:
        return "No jobs in the system\n"
    return "".join(render_record(job_lines(j, now=now, details=details, alloc_host=alloc_host), oneliner)
                   for j in jobs)


# ---------------------------------------------------------------- partition and node


class NodeUsage:
    """What the running jobs hold on the node, and what the machine reports about itself."""

    __slots__ = ("alloc_cpus", "alloc_mem_mb", "alloc_gpus", "cpu_load", "free_mem_mb", "boot_time",
                 "start_time", "last_busy", "arch", "os_name")

    def __init__(self, alloc_cpus: int = 0, alloc_mem_mb: int = 0, alloc_gpus: int = 0, cpu_load: float = 0.0,
                 free_mem_mb: int = 0, boot_time: float = 0.0, start_time: float = 0.0, last_busy: float = 0.0,
                 arch: str = "x86_64", os_name: str = "Linux") -> None:
        self.alloc_cpus = alloc_cpus
        self.alloc_mem_mb = alloc_mem_mb
        self.alloc_gpus = alloc_gpus
        self.cpu_load = cpu_load
        self.free_mem_mb = free_mem_mb
        self.boot_time = boot_time
        self.start_time = start_time
        self.last_busy = last_busy
        self.arch = arch
        self.os_name = os_name


def node_state(node: Node, usage: NodeUsage) -> str:
    """"IDLE", "MIXED" or "ALLOCATED" from the CPUs running jobs hold."""
    if usage.alloc_cpus <= 0:
        return "IDLE"
    return "ALLOCATED" if usage.alloc_cpus >= node.cpus else "MIXED"


def node_gres(node: Node) -> str:
    return f"gpu:{node.gpus}" if node.gpus else "(null)"


def _cfg_tres(node: Node, with_node: bool) -> str:
    text = f"cpu={node.cpus},mem={node.memory_mb}M," + ("node=1," if with_node else "") + f"billing={node.cpus}"
    return text + (f",gres/gpu={node.gpus}" if node.gpus else "")


def partition_lines(node: Node) -> list[str]:
    """The lines of `scontrol show partition` for the local backend's one partition."""
    return [
        f"PartitionName={node.partition}",
        "AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL",
        "AllocNodes=ALL Default=YES QoS=N/A",
        "DefaultTime=NONE DisableRootJobs=NO ExclusiveUser=NO GraceTime=0 Hidden=NO",
        "MaxNodes=UNLIMITED MaxTime=UNLIMITED MinNodes=0 LLN=NO MaxCPUsPerNode=UNLIMITED",
        f"Nodes={node.name}",
        "PriorityJobFactor=1 PriorityTier=1 RootOnly=NO ReqResv=NO OverSubscribe=NO",
        "OverTimeLimit=NONE PreemptMode=OFF",
        f"State=UP TotalCPUs={node.cpus} TotalNodes=1 SelectTypeParameters=NONE",
        "JobDefaults=(null)",
        "DefMemPerNode=UNLIMITED MaxMemPerNode=UNLIMITED",
        f"TRES={_cfg_tres(node, True)}",
    ]


def _alloc_tres(usage: NodeUsage) -> str:
    if usage.alloc_cpus <= 0:
        return ""
    text = f"cpu={usage.alloc_cpus},mem={format_memory(usage.alloc_mem_mb)}"
    return text + (f",gres/gpu={usage.alloc_gpus}" if usage.alloc_gpus else "")


def node_lines(node: Node, usage: NodeUsage) -> list[str]:
    """The lines of `scontrol show node` for the local node."""
    return [
        f"NodeName={node.name} Arch={usage.arch} CoresPerSocket={node.cpus} ",
        f"CPUAlloc={usage.alloc_cpus} CPUEfctv={node.cpus} CPUTot={node.cpus} CPULoad={usage.cpu_load:.2f}",
        "AvailableFeatures=(null)",
        "ActiveFeatures=(null)",
        f"Gres={node_gres(node)}",
        f"NodeAddr={node.name} NodeHostName={node.name} Version={VERSION}",
        f"OS={usage.os_name} ",
        f"RealMemory={node.memory_mb} AllocMem={usage.alloc_mem_mb} FreeMem={usage.free_mem_mb} Sockets=1 Boards=1",
        f"State={node_state(node, usage)} ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A",
        f"Partitions={node.partition} ",
        f"BootTime={format_timestamp(usage.boot_time, 'None')} "
        f"SlurmdStartTime={format_timestamp(usage.start_time, 'None')}",
        f"LastBusyTime={format_timestamp(usage.last_busy, 'None')}",
        f"CfgTRES={_cfg_tres(node, False)}",
        f"AllocTRES={_alloc_tres(usage)}",
        "CapWatts=n/a",
        "CurrentWatts=0 AveWatts=0",
        "ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s",
    ]


# ---------------------------------------------------------------- configuration

# (key, value) pairs; "{...}" values are filled in from the node. The layout is SLURM's.
_CONFIG: tuple[tuple[str, str], ...] = (
    ("AccountingStorageBackupHost", "(null)"), ("AccountingStorageEnforce", "none"),
    ("AccountingStorageHost", "localhost"), ("AccountingStorageExternalHost", "(null)"),
    ("AccountingStorageParameters", "(null)"), ("AccountingStoragePort", "0"),
    ("AccountingStorageTRES", "cpu,mem,energy,node,billing,fs/disk,vmem,pages{gres_tres}"),
    ("AccountingStorageType", "accounting_storage/none"), ("AccountingStorageUser", "N/A"),
    ("AccountingStoreFlags", "(null)"), ("AcctGatherEnergyType", "acct_gather_energy/none"),
    ("AcctGatherFilesystemType", "acct_gather_filesystem/none"),
    ("AcctGatherInterconnectType", "acct_gather_interconnect/none"), ("AcctGatherNodeFreq", "0 sec"),
    ("AcctGatherProfileType", "acct_gather_profile/none"), ("AllowSpecResourcesUsage", "No"),
    ("AuthAltTypes", "(null)"), ("AuthAltParameters", "(null)"), ("AuthInfo", "(null)"), ("AuthType", "auth/none"),
    ("BatchStartTimeout", "10 sec"), ("BcastExclude", "/lib,/usr/lib,/lib64,/usr/lib64"),
    ("BcastParameters", "(null)"), ("BOOT_TIME", "{boot}"), ("BurstBufferType", "(null)"),
    ("CliFilterPlugins", "(null)"), ("ClusterName", "{cluster}"), ("CommunicationParameters", "(null)"),
    ("CompleteWait", "0 sec"), ("CoreSpecPlugin", "core_spec/none"), ("CpuFreqDef", "Unknown"),
    ("CpuFreqGovernors", "OnDemand,Performance,UserSpace"), ("CredType", "cred/none"), ("DebugFlags", "(null)"),
    ("DefMemPerCPU", "{def_mem}"), ("DependencyParameters", "(null)"), ("DisableRootJobs", "No"),
    ("EioTimeout", "60"), ("EnforcePartLimits", "NO"), ("Epilog", "(null)"), ("EpilogMsgTime", "2000 usec"),
    ("EpilogSlurmctld", "(null)"), ("ExtSensorsType", "ext_sensors/none"), ("ExtSensorsFreq", "0 sec"),
    ("FederationParameters", "(null)"), ("FirstJobId", "1"), ("GetEnvTimeout", "2 sec"),
    ("GresTypes", "{gres_types}"), ("GpuFreqDef", "high,memory=high"), ("GroupUpdateForce", "1"),
    ("GroupUpdateTime", "600 sec"), ("HASH_VAL", "Match"), ("HealthCheckInterval", "0 sec"),
    ("HealthCheckNodeState", "ANY"), ("HealthCheckProgram", "(null)"), ("InactiveLimit", "0 sec"),
    ("InteractiveStepOptions", "--interactive --preserve-env --pty $SHELL"),
    ("JobAcctGatherFrequency", "30"), ("JobAcctGatherType", "jobacct_gather/none"),
    ("JobAcctGatherParams", "(null)"), ("JobCompHost", "localhost"), ("JobCompLoc", "/var/log/slurm_jobcomp.log"),
    ("JobCompPort", "0"), ("JobCompType", "jobcomp/none"), ("JobCompUser", "root"),
    ("JobContainerType", "job_container/none"), ("JobCredentialPrivateKey", "(null)"),
    ("JobCredentialPublicCertificate", "(null)"), ("JobDefaults", "(null)"), ("JobFileAppend", "0"),
    ("JobRequeue", "1"), ("JobSubmitPlugins", "(null)"), ("KillOnBadExit", "0"), ("KillWait", "{kill_wait} sec"),
    ("LaunchParameters", "(null)"), ("LaunchType", "launch/slurm"), ("Licenses", "(null)"),
    ("LogTimeFormat", "iso8601_ms"), ("MailDomain", "(null)"), ("MailProg", "/bin/true"),
    ("MaxArraySize", str(MAX_ARRAY_SIZE)), ("MaxDBDMsgs", "20004"), ("MaxJobCount", "10000"),
    ("MaxJobId", "67043328"), ("MaxMemPerNode", "UNLIMITED"), ("MaxNodeCount", "1"), ("MaxStepCount", "40000"),
    ("MaxTasksPerNode", "512"), ("MCSPlugin", "mcs/none"), ("MCSParameters", "(null)"),
    ("MessageTimeout", "10 sec"), ("MinJobAge", f"{MIN_JOB_AGE_S} sec"), ("MpiDefault", "none"),
    ("MpiParams", "(null)"), ("NEXT_JOB_ID", "{next_job_id}"), ("NodeFeaturesPlugins", "(null)"),
    ("OverTimeLimit", "0 min"), ("PluginDir", "/usr/lib/x86_64-linux-gnu/slurm-wlm"), ("PlugStackConfig", "(null)"),
    ("PowerParameters", "(null)"), ("PowerPlugin", ""), ("PreemptMode", "OFF"), ("PreemptType", "preempt/none"),
    ("PreemptExemptTime", "00:00:00"), ("PrEpParameters", "(null)"), ("PrEpPlugins", "prep/script"),
    ("PriorityParameters", "(null)"), ("PrioritySiteFactorParameters", "(null)"),
    ("PrioritySiteFactorPlugin", "(null)"), ("PriorityType", "priority/basic"), ("PrivateData", "none"),
    ("ProctrackType", "proctrack/linuxproc"), ("Prolog", "(null)"), ("PrologEpilogTimeout", "65534"),
    ("PrologSlurmctld", "(null)"), ("PrologFlags", "(null)"), ("PropagatePrioProcess", "0"),
    ("PropagateResourceLimits", "ALL"), ("PropagateResourceLimitsExcept", "(null)"), ("RebootProgram", "(null)"),
    ("ReconfigFlags", "(null)"), ("RequeueExit", "(null)"), ("RequeueExitHold", "(null)"),
    ("ResumeFailProgram", "(null)"), ("ResumeProgram", "(null)"), ("ResumeRate", "300 nodes/min"),
    ("ResumeTimeout", "60 sec"), ("ResvEpilog", "(null)"), ("ResvOverRun", "0 min"), ("ResvProlog", "(null)"),
    ("ReturnToService", "2"), ("RoutePlugin", "route/default"), ("SchedulerParameters", "(null)"),
    ("SchedulerTimeSlice", "30 sec"), ("SchedulerType", "sched/backfill"), ("ScronParameters", "(null)"),
    ("SelectType", "select/cons_tres"), ("SelectTypeParameters", "CR_CORE_MEMORY"), ("SlurmUser", "{user}"),
    ("SlurmctldAddr", "(null)"), ("SlurmctldDebug", "info"), ("SlurmctldHost[0]", "{node}"),
    ("SlurmctldLogFile", "(null)"), ("SlurmctldPort", "6817"), ("SlurmctldSyslogDebug", "(null)"),
    ("SlurmctldPrimaryOffProg", "(null)"), ("SlurmctldPrimaryOnProg", "(null)"), ("SlurmctldTimeout", "120 sec"),
    ("SlurmctldParameters", "(null)"), ("SlurmdDebug", "info"), ("SlurmdLogFile", "(null)"),
    ("SlurmdParameters", "(null)"), ("SlurmdPidFile", "(null)"), ("SlurmdPort", "6818"),
    ("SlurmdSpoolDir", "{home}"), ("SlurmdSyslogDebug", "(null)"), ("SlurmdTimeout", "300 sec"),
    ("SlurmdUser", "{user}"), ("SlurmSchedLogFile", "(null)"), ("SlurmSchedLogLevel", "0"),
    ("SlurmctldPidFile", "(null)"), ("SlurmctldPlugstack", "(null)"), ("SLURM_CONF", "{conf}"),
    ("SLURM_VERSION", VERSION), ("SrunEpilog", "(null)"), ("SrunPortRange", "0-0"), ("SrunProlog", "(null)"),
    ("StateSaveLocation", "{home}"), ("SuspendExcNodes", "(null)"), ("SuspendExcParts", "(null)"),
    ("SuspendProgram", "(null)"), ("SuspendRate", "60 nodes/min"), ("SuspendTime", "INFINITE"),
    ("SuspendTimeout", "30 sec"), ("SwitchParameters", "(null)"), ("SwitchType", "switch/none"),
    ("TaskEpilog", "(null)"), ("TaskPlugin", "task/none"), ("TaskPluginParam", "(null type)"),
    ("TaskProlog", "(null)"), ("TCPTimeout", "2 sec"), ("TmpFS", "/tmp"), ("TopologyParam", "(null)"),
    ("TopologyPlugin", "topology/none"), ("TrackWCKey", "No"), ("TreeWidth", "50"), ("UsePam", "No"),
    ("UnkillableStepProgram", "(null)"), ("UnkillableStepTimeout", "60 sec"), ("VSizeFactor", "0 percent"),
    ("WaitTime", "0 sec"), ("X11Parameters", "(null)"),
)


def config_lines(node: Node, *, now: float, boot_time: float, next_job_id: int, user: str, uid: int,
                 home: str, conf: str) -> list[str]:
    """`scontrol show config` as lines: "Key<padded to 23> = value", SLURM's key order."""
    values = {
        "boot": format_timestamp(boot_time), "cluster": node.cluster, "def_mem": str(node.def_mem_per_cpu_mb),
        "gres_types": "gpu" if node.gpus else "(null)", "gres_tres": ",gres/gpu" if node.gpus else "",
        "kill_wait": str(int(node.kill_wait_s)), "next_job_id": str(next_job_id), "user": f"{user}({uid})",
        "node": node.name, "home": home, "conf": conf,
    }
    lines = [f"Configuration data as of {format_timestamp(now)}"]
    for key, value in _CONFIG:
        lines.append(f"{key:<23} = {value.format(**values) if '{' in value else value}")
    lines += ["", f"Slurmctld(primary) at {node.name} is UP"]
    return lines


def render_config(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"
