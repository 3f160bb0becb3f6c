"""man/man1/flow.1, generated from the subcommands' option tables (as the SLURM commands' pages
are from theirs), so the page cannot drift from what `flow CMD --help` says.

    python -m flowslurm.cli.flow.manpage > man/man1/flow.1
"""

from __future__ import annotations

import importlib

from flowslurm.cli.flow.args import FLAG, HELP, MULTI


def _esc(text: str) -> str:
    out = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in out.split("\n"))


def render() -> str:
    from flowslurm.cli.flow.dispatch import COMMANDS, VERSION

    lines = [f'.TH FLOW 1 "" "flowslurm {VERSION}" "User Commands"', ".SH NAME",
             "flow \\- launch tasks on this machine or on Mithril GPUs, through flowslurm's engine",
             ".SH SYNOPSIS", ".B flow", "[\\-\\-debug] [\\-\\-version] \\fICOMMAND\\fR [\\fIARGS\\fR...]",
             ".SH DESCRIPTION",
             _esc("flow is the native command line of the Flow SDK. Every task it submits is a job in flowslurm's "
                  "ledger: squeue and sacct show it under its SLURM job id, and flow status shows jobs sbatch "
                  "submitted. A task is named by its id (task-12 or 12), its name, or :N, its row in flow status. "
                  "Without an instance type a task runs on this machine; with one (a100, 4xa100, 8xa100, h100, "
                  "8xh100, ...) on a Mithril instance."),
             ".SH COMMANDS"]
    for name, (module, _summary) in COMMANDS.items():
        spec = importlib.import_module(f"flowslurm.cli.flow.{module}").SPEC
        lines += [".SS " + _esc(spec.usage), _esc(spec.summary)]
        for opt in (*spec.options, HELP):
            spell = ", ".join(f"\\fB{_esc(n)}\\fR" for n in opt.names)
            if opt.kind != FLAG:
                spell += f" \\fI{_esc(opt.metavar)}\\fR"
            lines += [".TP", spell, _esc(opt.help + (" (repeatable)" if opt.kind == MULTI else ""))]
        if spec.examples:
            lines += [".PP", "Examples:", ".RS", ".nf", *[_esc(e) for e in spec.examples], ".fi", ".RE"]
    lines += [".SH EXIT STATUS",
              _esc("0 success; 1 error; 2 usage error (also: a confirmation needed and no terminal to ask); "
                   "3 invalid task configuration; 4 task or volume not found; 5 authentication; 6 transient "
                   "(network, rate limit, timeout); 7 quota or capacity; 8 the watched task did not complete; "
                   "130 interrupted."),
              ".SH ENVIRONMENT",
              _esc("FLOWSLURM_HOME (state and config), MITHRIL_API_KEY, MITHRIL_API_URL, MITHRIL_PROJECT, "
                   "FLOW_DEBUG=1 (as --debug)."),
              ".SH SEE ALSO", "sbatch(1), squeue(1), sacct(1), scancel(1)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    sys.stdout.write(render())
