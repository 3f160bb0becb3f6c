"""Replaying real SLURM 22.05 transcripts (shared/slurm-golden/*.txt) against flowslurm's commands.

A transcript is a list of records: `$ command`, then stdout, stderr and exit code. A replay runs
each chosen record's command line (through bash, so pipes work) with flowslurm's bin/ first on
PATH, in a work dir where every file the transcript `cat`s exists with the recorded content, and
compares stdout, stderr and exit code after normalising what legitimately differs: job ids (SLURM's
ids are mapped to ours in order of submission), the work dir, the user and uid, and timestamps.
"""

from __future__ import annotations

import os
import pwd
import re
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[3] / "shared" / "slurm-golden"
GOLDEN_WORKDIR = "/tmp/slurm-golden-work"
_DATE = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \w{3} [ \d]\d \d\d:\d\d:\d\d( \w+)? \d{4}\b")
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
SBATCH_CALL = re.compile(r"(?<![\w/.-])(?:sbatch|srun|salloc)\b")
# the job id srun and salloc mention on stderr
_ALLOCATED = re.compile(r"(?:job allocation|srun: job|StepId=) ?(\d+)")
_SUBMITTED = re.compile(r"^(?:Submitted batch job )?(\d+)(?:;\S+)?$|^Submitted batch job (\d+)")


@dataclass
class Record:
    command: str
    stdout: str
    stderr: str
    exit_code: int
    root: bool = False
    line: int = 0


def parse(name: str) -> list[Record]:
    """The records of a transcript file, in order."""
    text = (GOLDEN / name).read_text()
    records: list[Record] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ ") or line.startswith("[root] # "):
            root = line.startswith("[root]")
            command = line[2:] if not root else line[len("[root] # "):]
            start = i + 1
            i += 1
            # the stdout section begins at the next '--- stdout ---'
            while i < len(lines) and lines[i] != "--- stdout ---":
                command += "\n" + lines[i]
                i += 1
            i += 1
            out: list[str] = []
            while lines[i] != "--- stderr ---":
                out.append(lines[i])
                i += 1
            i += 1
            err: list[str] = []
            while not lines[i].startswith("--- exit code: "):
                err.append(lines[i])
                i += 1
            code = int(lines[i].split(": ")[1].split()[0])
            records.append(Record(command, _section(out), _section(err), code, root, start))
        i += 1
    return records


def _section(lines: list[str]) -> str:
    if lines and lines[-1] == "[no newline at end]":
        return "\n".join(lines[:-1])
    return "\n".join(lines) + "\n" if lines else ""


def _job_id(stdout: str, stderr: str) -> int | None:
    """The id sbatch printed, or the one srun/salloc named on stderr."""
    m = _SUBMITTED.match(stdout.strip())
    if m:
        return int(m.group(1) or m.group(2))
    m = _ALLOCATED.search(stderr)
    return int(m.group(1)) if m else None


@dataclass
class Replay:
    """State of one replay: the work dir, the environment, and SLURM id -> our id."""

    workdir: Path
    env: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)
    settled_upto: int = 0  # jobs up to this id were waited for

    def _map_ids(self, text: str) -> str:
        if not self.ids:
            return text
        pattern = re.compile(r"(?<![\d.])(" + "|".join(sorted(self.ids, key=len, reverse=True)) + r")(?!\d)")
        return pattern.sub(lambda m: self.ids[m.group(1)], text)

    def normalise(self, text: str) -> str:
        me = pwd.getpwuid(os.getuid()).pw_name
        text = text.replace(str(self.workdir), GOLDEN_WORKDIR)
        if self.env.get("HOME"):
            text = text.replace(self.env["HOME"], "/home/golden")
        text = re.sub(rf"(?m)^(\d+: )?{re.escape(socket.gethostname())}$", r"\1vm", text)  # `hostname`'s output
        text = _TS.sub("<TS>", text)
        text = _DATE.sub("<DATE>", text)
        pad = " " * max(0, len("golden") - len(me))
        text = re.sub(rf"{pad}\b{re.escape(me)}\b", "golden", text)  # keep right-justified columns aligned
        text = re.sub(rf"\b{re.escape(me)}\b|(?<=-u){re.escape(me)}(?=-)", "golden", text)
        text = re.sub(rf"\b(by|UserId=golden\()\s*{os.getuid()}\b", r"\1 1001", text)
        return text

    def align_ids(self, record: Record, ledger: Path) -> None:
        """Before an sbatch that SLURM answered with id N, make our next id N too when it can be
        (ids only grow), as SLURM's FirstJobId would: outputs then align byte for byte."""
        want = _job_id(record.stdout, record.stderr)
        if want is None or not ledger.exists():
            return
        import sqlite3

        conn = sqlite3.connect(ledger, timeout=30)
        try:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").fetchone()
            if row is None:  # (sqlite_sequence has no key: INSERT OR REPLACE would add a second row)
                conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('jobs', ?)", (want - 1,))
            elif row[0] < want - 1:
                conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'jobs'", (want - 1,))
            conn.commit()
        finally:
            conn.close()

    def run(self, record: Record, timeout: float = 60) -> tuple[str, str, int]:
        command = self._map_ids(record.command)
        proc = subprocess.run(["bash", "-c", command], cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        return proc.stdout, proc.stderr, proc.returncode

    def expect(self, record: Record) -> tuple[str, str, int]:
        return self._map_ids(record.stdout), self._map_ids(record.stderr), record.exit_code

    def learn_ids(self, record: Record, stdout: str, stderr: str = "") -> None:
        """After an sbatch, map the id SLURM printed to the id we printed."""
        want, got = _job_id(record.stdout, record.stderr), _job_id(stdout, stderr)
        if want is not None and got is not None:
            self.ids[str(want)] = str(got)

    def setup_files(self, records: list[Record]) -> set[int]:
        """Create every script the transcript shows with `cat FILE`; returns those records' lines."""
        handled = set()
        for rec in records:
            m = re.fullmatch(r"cat (\S+\.(?:sh|slurm|py|txt))", rec.command)
            if m and rec.exit_code == 0 and "/" not in m.group(1):
                path = self.workdir / m.group(1)
                if not path.exists():
                    path.write_text(rec.stdout)
                handled.add(rec.line)
        return handled
