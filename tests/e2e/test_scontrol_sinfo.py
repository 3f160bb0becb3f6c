"""scontrol and sinfo through the real commands, against a private flowslurm home."""

from __future__ import annotations

import os

from tests.conftest import Cluster


def test_sinfo_default_and_states(cluster: Cluster) -> None:
    res = cluster.run("sinfo")
    assert res.returncode == 0, res.stderr
    assert res.stdout == ("PARTITION AVAIL  TIMELIMIT  NODES  STATE NODELIST\n"
                          "local*       up   infinite      1   idle testnode\n")
    assert cluster.run("sinfo", "-h", "-o", "%P").stdout == "local*\n"
    job = cluster.submit("--wrap", "sleep 30")
    cluster.wait_state(job, "RUNNING")
    assert cluster.run("sinfo", "-h", "-o", "%t %C").stdout == "mix 1/7/0/8\n"
    res = cluster.run("sinfo", "--bogus")
    assert (res.returncode, res.stderr) == (1, "sinfo: unrecognized option '--bogus'\nTry \"sinfo --help\" for more information\n")


def test_show_job_hold_release_update(cluster: Cluster) -> None:
    job = cluster.submit("--hold", "-J", "held", "--time=10", "--wrap", "true")
    out = cluster.run("scontrol", "show", "job", str(job)).stdout
    assert out.startswith(f"JobId={job} JobName=held\n")
    assert "   JobState=PENDING Reason=JobHeldUser Dependency=(null)\n" in out
    assert f"   StdOut={cluster.workdir}/slurm-{job}.out\n" in out
    one = cluster.run("scontrol", "show", "job", "-o", str(job)).stdout
    assert one.count("\n") == 1 and one.endswith("Power= \n")
    assert cluster.run("scontrol", "update", f"jobid={job}", "timelimit=+5", "JobName=renamed").returncode == 0
    assert cluster.run("squeue", "-h", "-j", str(job), "-o", "%l %j").stdout == "15:00 renamed\n"
    assert cluster.run("scontrol", "update", "job", str(job), "TimeLimit=20").returncode == 0
    assert cluster.run("squeue", "-h", "-j", str(job), "-o", "%l").stdout == "20:00\n"
    assert cluster.run("scontrol", "release", str(job)).returncode == 0
    cluster.wait_done(job)
    assert cluster.state(job) == "COMPLETED"


def test_hold_pending_job(cluster: Cluster) -> None:
    blocker = cluster.submit("-c", "8", "--wrap", "sleep 30")
    cluster.wait_state(blocker, "RUNNING")
    job = cluster.submit("--wrap", "true")
    assert cluster.run("scontrol", "hold", str(job)).returncode == 0
    held = "JobHeldAdmin" if os.getuid() == 0 else "JobHeldUser"  # SLURM: root's hold is an admin hold
    assert cluster.run("squeue", "-h", "-j", str(job), "-o", "%r").stdout.split() == [held]
    res = cluster.run("scontrol", "hold", str(blocker))
    assert res.returncode == 1 and "Job is no longer pending execution" in res.stderr


def test_errors(cluster: Cluster) -> None:
    res = cluster.run("scontrol", "show", "job", "999999")
    assert (res.returncode, res.stdout, res.stderr) == (1, "", "slurm_load_jobs error: Invalid job id specified\n")
    res = cluster.run("scontrol", "show", "job", "abc")
    assert (res.returncode, res.stderr) == (1, "scontrol_print_job error: Invalid job id specified\n")
    res = cluster.run("scontrol", "bogus")
    assert (res.returncode, res.stderr) == (1, "invalid keyword: bogus\n")
    assert cluster.run("scontrol", "show", "job").stdout == "No jobs in the system\n"
    assert cluster.run("scontrol", "--version").stdout == "slurm-wlm 22.05.8\n"


def test_show_partition_node_config_hostnames(cluster: Cluster) -> None:
    part = cluster.run("scontrol", "show", "partition").stdout
    assert part.startswith("PartitionName=local\n") and "   State=UP TotalCPUs=8 TotalNodes=1" in part
    node = cluster.run("scontrol", "show", "node", "testnode").stdout
    assert node.startswith("NodeName=testnode ") and "   State=IDLE " in node
    res = cluster.run("scontrol", "show", "node", "other")
    assert res.returncode == 1
    config = cluster.run("scontrol", "show", "config").stdout.splitlines()
    assert "MaxArraySize            = 1001" in config
    assert "MinJobAge               = 300 sec" in config
    assert cluster.run("scontrol", "show", "hostnames", "n[1-3]").stdout == "n1\nn2\nn3\n"
    assert cluster.run("scontrol", "show", "hostlist", "n1,n2,n3").stdout == "n[1-3]\n"
