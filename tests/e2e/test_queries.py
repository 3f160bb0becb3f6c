"""squeue, sacct and scancel selection options, driven through the real commands."""

from __future__ import annotations

import getpass

from tests.conftest import Cluster


def _ids(text: str) -> list[str]:
    return text.split()


def test_squeue_filters_and_forms(cluster: Cluster) -> None:
    a = cluster.submit("--hold", "-J", "alpha", "--wrap", "true")
    b = cluster.submit("--hold", "-J", "beta", "--wrap", "true")
    me = getpass.getuser()
    run = cluster.run
    assert _ids(run("squeue", "-h", "-o", "%i", "-n", "beta").stdout) == [str(b)]
    assert _ids(run("squeue", "-h", "-o", "%i", "-j", f"{a},{b}", "--sort=-i").stdout) == [str(b), str(a)]
    assert _ids(run("squeue", "-h", "-o", "%i", "-u", me).stdout) == _ids(run("squeue", "-h", "-o", "%i", "--me").stdout)
    assert run("squeue", "-h", "-u", "nosuchuser").stdout == ""
    assert run("squeue", "-h", "-t", "R").stdout == ""
    assert run("squeue", "-h", "-p", "local", "-o", "%P").stdout == "local\nlocal\n"
    long = run("squeue", "-l").stdout.splitlines()
    assert long[1].split() == ["JOBID", "PARTITION", "NAME", "USER", "STATE", "TIME", "TIME_LIMI", "NODES",
                               "NODELIST(REASON)"]
    assert run("squeue", "-O", "JobID:8,Name:6").stdout.splitlines()[0] == "JOBID   NAME  "
    res = run("squeue", "-t", "BOGUS")
    assert res.returncode == 1 and res.stderr.startswith("squeue: error: Invalid job state specified: BOGUS\n")
    res = run("squeue", "--bogus")
    assert (res.returncode, res.stderr) == (1, "squeue: unrecognized option '--bogus'\nTry \"squeue --help\" for more information\n")


def test_sacct_selection(cluster: Cluster) -> None:
    ok = cluster.submit("-J", "good", "--wait", "--wrap", "true")
    bad = int(cluster.run("sbatch", "--parsable", "-J", "bad", "--wait", "--wrap", "exit 4").stdout)
    run = cluster.run
    assert run("sacct", "-X", "-n", "-P", "-o", "JobID", "--name", "bad").stdout == f"{bad}\n"
    assert run("sacct", "-X", "-n", "-P", "-o", "JobID,State", "-s", "F", "-S", "now-1hour", "-E", "now").stdout == f"{bad}|FAILED\n"
    assert run("sacct", "-n", "-P", "-o", "JobID,ExitCode", "-j", str(ok), "-j", str(bad)).stdout == (
        f"{ok}|0:0\n{ok}.batch|0:0\n{bad}|4:0\n{bad}.batch|4:0\n")
    assert run("sacct", "-X", "-n", "-E", "now-1hour").stdout == ""
    res = run("sacct", "-o", "NoSuchField")
    assert (res.returncode, res.stderr) == (1, 'sacct: error: Invalid field requested: "NoSuchField"\n')


def test_scancel_selection(cluster: Cluster) -> None:
    a = cluster.submit("--hold", "-J", "one", "--wrap", "true")
    b = cluster.submit("--hold", "-J", "two", "--wrap", "true")
    c = cluster.submit("--hold", "-J", "two", "--wrap", "true")
    assert cluster.run("scancel", "-n", "two").returncode == 0
    assert [cluster.state(j) for j in (a, b, c)] == ["PENDING", "CANCELLED", "CANCELLED"]
    assert cluster.run("scancel", "--state=PENDING", "--me").returncode == 0
    assert cluster.state(a) == "CANCELLED"
    res = cluster.run("scancel")
    assert (res.returncode, res.stderr) == (1, "scancel: error: No job identification provided\n")
    res = cluster.run("scancel", "abc")
    assert (res.returncode, res.stderr) == (1, "scancel: error: Invalid job id abc\n")
    assert cluster.run("scancel", "999999").returncode == 0
    res = cluster.run("scancel", "-s", "NOPE", str(a))
    assert res.returncode == 1 and "NOPE" in res.stderr


def test_help_usage_and_version_of_every_command(cluster: Cluster) -> None:
    for cmd in ("sbatch", "squeue", "scancel", "sacct"):
        assert cluster.run(cmd, "--version").stdout == "slurm-wlm 22.05.8\n"
        help_text = cluster.run(cmd, "--help")
        assert help_text.returncode == 0 and "--" in help_text.stdout and cmd in help_text.stdout
        assert cluster.run(cmd, "--usage").stdout.lower().lstrip().startswith(("usage", cmd))
