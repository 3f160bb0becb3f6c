"""flow init: store Mithril credentials, checked against the API first.

Interactive on a terminal (the key is read without echo, the project chosen from the key's own);
for scripts every answer has a flag and nothing is asked:

    flow init --api-key fkey_... --project research [--region us-central1-a] [--api-url URL]

The key is validated by listing the key's projects before anything is written; the config file
(flowslurm's config.yaml, the one sbatch reads) is written atomically with mode 0600, and only its
`mithril:` settings change: the default backend of sbatch stays what it was.
"""

from __future__ import annotations

import os

from flowslurm.cli.flow.args import FLAG, JSON, VALUE, Command, Opt, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from flowslurm.cli.common import Env

SPEC = Command(
    "init", "flow init [--api-key KEY] [--project NAME] [--region REGION] [--api-url URL] [--yes]",
    "Set up Mithril credentials: validate the API key, pick the project, save the config (mode 0600).\n"
    "Get a key at https://app.mithril.ai/account/apikeys. Tasks without an instance type need no setup.",
    (
        Opt(("--api-key",), "api_key", VALUE, "KEY", "the Mithril API key (fkey_...); read from a prompt if absent"),
        Opt(("--project",), "project", VALUE, "NAME", "the project (name or proj_ id); asked if the key has several"),
        Opt(("--region",), "region", VALUE, "REGION", "preferred region for instances and volumes"),
        Opt(("--api-url",), "api_url", VALUE, "URL", "the API (default https://api.mithril.ai)"),
        Opt(("--ssh-key",), "ssh_key", VALUE, "PATH", "private key to reach instances (default: one made for you)"),
        Opt(("-y", "--yes", "--non-interactive"), "yes", FLAG, help="never prompt (fail if an answer is missing)"),
        Opt(("--show",), "show", FLAG, help="print the current settings (the key hidden) and exit"),
        Opt(("--dry-run",), "dry_run", FLAG, help="validate, but write nothing"),
        JSON,
    ),
    ("flow init", "flow init --api-key \"$MITHRIL_API_KEY\" --project research --yes", "flow init --show"),
)


def _file_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """Only what locates the config file: the file's own settings, not MITHRIL_* overrides."""
    return {k: environ[k] for k in ("FLOWSLURM_CONFIG", "FLOWSLURM_HOME", "HOME", "XDG_CONFIG_HOME") if k in environ}


def _prompt(env: Env, question: str, default: str | None = None, secret: bool = False) -> str:
    shown = f" [{default}]" if default else ""
    if secret:
        import getpass

        answer = getpass.getpass(f"{question}{shown}: ", stream=env.stderr)
    else:
        env.stderr.write(f"{question}{shown}: ")
        env.stderr.flush()
        answer = env.stdin.readline().strip()
    return answer or (default or "")


def run(argv: list[str], env: Env) -> int:
    from flowslurm.api.cloud import translated
    from flowslurm.api.errors import AuthenticationError, UsageError, ValidationError
    from flowslurm.cli.flow.output import Progress, is_tty, print_json
    from flowslurm.providers.mithril import settings as ms

    p = parse(SPEC, argv)
    file_env = _file_environ(env.environ)
    path = ms.config_path(file_env)
    with translated():
        current = ms.load_settings(file_env)
    if p.get("show"):
        data = {"config_file": path, "exists": os.path.exists(path), "backend": current.backend,
                "api_url": current.api_url, "project": current.project, "region": current.region,
                "api_key": "set (hidden)" if current.api_key is not None else "not set",
                "api_key_from_environment": bool(env.environ.get("MITHRIL_API_KEY"))}
        if p.get("json"):
            print_json(env, data)
        else:
            env.stdout.write("".join(f"{k}: {v}\n" for k, v in data.items()))
        return 0
    interactive = not p.get("yes") and is_tty(env.stdin)
    key = p.get("api_key") or env.environ.get("MITHRIL_API_KEY") or ""
    if not key and interactive:
        key = _prompt(env, "Mithril API key (https://app.mithril.ai/account/apikeys)", secret=True)
    if not key:
        raise UsageError("flow init: no API key given" + ("" if interactive else " (and no terminal to ask)"),
                         ["flow init --api-key fkey_... --project NAME --yes", "Or set MITHRIL_API_KEY"])
    key = key.strip()
    if not key.startswith("fkey_") or len(key) < 25 or not key[5:].replace("_", "").replace("-", "").isalnum():
        raise ValidationError("that does not look like a Mithril API key (they start with fkey_)",
                              ["Copy the key from https://app.mithril.ai/account/apikeys"])
    url = p.get("api_url") or env.environ.get("MITHRIL_API_URL") or current.api_url
    from flowslurm.providers.mithril.api import MithrilClient

    with Progress(env, "Checking the API key...") as progress, translated():
        with MithrilClient(api_key=key, base_url=url) as client:
            try:
                projects = client.list_projects()
            except Exception as exc:
                from flowslurm.api.errors import translate

                shown = translate(exc)
                if isinstance(shown, AuthenticationError):
                    raise AuthenticationError("Mithril rejected this API key: it is wrong, expired or revoked",
                                              ["Create a new key at https://app.mithril.ai/account/apikeys"]) from exc
                raise
        progress.step(f"API key accepted by {url}")
    names = sorted(p_.name for p_ in projects)
    wanted = p.get("project") or env.environ.get("MITHRIL_PROJECT") or current.project
    if wanted is None and len(projects) == 1:
        wanted = projects[0].name
    if wanted is None and interactive and projects:
        wanted = _prompt(env, f"Project ({', '.join(names)})", default=names[0])
    chosen = next((pr for pr in projects if wanted in (pr.name, pr.fid)), None)
    if chosen is None:
        raise ValidationError(f"the key has no project {wanted!r}" if wanted else "which project? the key has several",
                              [f"Projects of this key: {', '.join(names) or 'none'}", "Pass --project NAME"])
    region = p.get("region") or current.region
    ssh_key = os.path.expanduser(p.get("ssh_key")) if p.get("ssh_key") else current.ssh_key
    if ssh_key and not os.path.isfile(ssh_key):
        raise ValidationError(f"no SSH private key at {ssh_key}")
    from flowslurm.providers.mithril.models import Secret

    updated = current.copy(api_key=Secret(key), api_url=url.rstrip("/"), project=chosen.name, region=region,
                           ssh_key=ssh_key, config_file=path)
    if p.get("dry_run"):
        written = None
    else:
        with translated():
            written = ms.save_settings(updated, path)
    result = {"config_file": str(written) if written else None, "project": chosen.name, "project_id": chosen.fid,
              "api_url": url, "region": region, "written": written is not None}
    if p.get("json"):
        print_json(env, result)
    elif written:
        env.stdout.write(f"Saved Mithril settings to {written} (mode 0600): project {chosen.name}"
                         + (f", region {region}" if region else "") + "\n")
        env.stdout.write('Next: flow run "nvidia-smi" -i a100   (without -i, tasks run on this machine)\n')
    else:
        env.stdout.write(f"Dry run: the key works for project {chosen.name}; nothing was written\n")
    return 0
