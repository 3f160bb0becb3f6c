"""flow volumes create|list|delete: persistent Mithril volumes, named by id, name or :N (the row
in `flow volumes list`)."""

from __future__ import annotations

from flowslurm.cli.flow.args import FLAG, JSON, VALUE, Command, Opt, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.cli.common import Env

SPEC = Command(
    "volumes", "flow volumes list [--json] | create --size GB [--name NAME] [--region R] [--interface block|file]"
               " | delete VOLUME... [--yes]",
    "Manage persistent volumes. A volume is named by its id (vol_...), its name, or :N, its row in the list.",
    (
        Opt(("-s", "--size"), "size", VALUE, "GB", "size of a new volume in GB", number="int"),
        Opt(("-n", "--name"), "name", VALUE, "NAME", "name of a new volume (lower-case, digits, -)"),
        Opt(("-r", "--region"), "region", VALUE, "REGION", "region of a new volume"),
        Opt(("--interface",), "interface", VALUE, "KIND", "block (default) or file", choices=("block", "file")),
        Opt(("-y", "--yes"), "yes", FLAG, help="delete without asking"),
        JSON,
    ),
    ("flow volumes list", "flow volumes create --size 100 --name training-data",
     "flow volumes delete training-data --yes", "flow volumes delete :1"),
    positionals="volume",
)

ACTIONS = ("list", "create", "delete")


def run(argv: list[str], env: Env) -> int:
    from flowslurm.api import volumes
    from flowslurm.api.errors import UsageError
    from flowslurm.cli.flow.output import confirm, print_json, table

    p = parse(SPEC, argv)
    action = p.positionals[0] if p.positionals else "list"
    if action not in ACTIONS:
        raise UsageError(f"flow volumes: unknown action {action!r}", [f"Actions: {', '.join(ACTIONS)}"])
    rest = p.positionals[1:]
    if action == "list":
        found = volumes.list_volumes()
        if p.get("json"):
            print_json(env, [v.to_dict() for v in found])
        elif not found:
            env.stdout.write("No volumes. Create one: flow volumes create --size 100 --name data\n")
        else:
            env.stdout.write(table(["#", "VOLUME", "NAME", "SIZE", "REGION", "INTERFACE", "ATTACHED"],
                                   [[f":{i}", v.volume_id, v.name, f"{v.size_gb}GB", v.region, v.interface,
                                     ", ".join(v.attached_to) or "-"] for i, v in enumerate(found, start=1)]))
        return 0
    if action == "create":
        if rest:
            raise UsageError("flow volumes create: give the name with --name", [f"--name {rest[0]}"])
        if p.get("size") is None:
            raise UsageError("flow volumes create: --size GB is required")
        vol = volumes.create_volume(p.get("size"), p.get("name"), p.get("region"), p.get("interface") or "block")
        if p.get("json"):
            print_json(env, vol.to_dict())
        else:
            env.stdout.write(f"Created volume {vol.name} ({vol.volume_id}): {vol.size_gb}GB {vol.interface} "
                             f"in {vol.region}\n")
        return 0
    if not rest:
        raise UsageError("flow volumes delete: name the volumes to delete", ["flow volumes list shows them"])
    targets = [volumes.find_volume(ref) for ref in rest]
    if not p.get("yes"):
        shown = ", ".join(f"{v.name} ({v.volume_id})" for v in targets)
        if not confirm(env, f"Delete {shown}? Its data is lost."):
            env.stderr.write("flow volumes: nothing deleted (pass --yes to delete without asking)\n")
            return 2
    deleted = [volumes.delete_volume(v.volume_id) for v in targets]
    if p.get("json"):
        print_json(env, [v.to_dict() for v in deleted])
    else:
        for v in deleted:
            env.stdout.write(f"Deleted volume {v.name} ({v.volume_id})\n")
    return 0
