"""sinfo: the local backend's partition and node, in SLURM 22.05's report formats."""

from __future__ import annotations

from flowslurm.cli.common import Env, answer_info, main_wrapper
from flowslurm.slurm.options import parse_args
from flowslurm.slurm.opts_sinfo import SPEC


def run(argv: list[str], env: Env) -> int:
    parsed = parse_args(SPEC, argv)
    if answer_info(parsed, SPEC, env):
        return 0
    v = parsed.values
    from flowslurm import config
    from flowslurm.slurm import sinfo_format as fmt

    node = config.node()
    cols = fmt.choose_format(v.get("format"), v.get("format_long"), long=bool(v.get("long")),
                             node_oriented=bool(v.get("node_oriented")), summarize=bool(v.get("summarize")),
                             node=node)
    states = fmt.parse_states(str(v["states"])) if v.get("states") else None
    from flowslurm.cli.scontrol import _usage
    from flowslurm.engine.ledger import Ledger

    usage = _usage(Ledger.open())
    if v.get("dead"):
        states = ["down"]  # the local node always responds
    import time

    env.stdout.write(fmt.render(
        cols, node, usage, header=not v.get("noheader"),
        partitions=str(v["partition"]).split(",") if v.get("partition") else None,
        nodes=str(v["nodes"]).split(",") if v.get("nodes") else None, states=states,
        long=bool(v.get("long")), now_text=time.ctime(env.now()),
    ))
    return 0


main = main_wrapper("sinfo", run)
