"""Which backend runs jobs, and how flowslurm reaches Mithril: one typed `Settings`.

Sources, later wins: defaults < the YAML config file < the environment.

    backend: mithril                 # or local (FLOWSLURM_BACKEND)
    mithril:
      api_key: fkey_...              # MITHRIL_API_KEY; the file must then be mode 0600
      api_url: https://api.mithril.ai  # MITHRIL_API_URL
      project: research              # MITHRIL_PROJECT: a name or a proj_ fid
      ssh_user: ubuntu               # MITHRIL_SSH_USER
      ssh_key: ~/.ssh/id_ed25519     # MITHRIL_SSH_KEY (optional: flowslurm makes one)
      max_price_per_hour: 12.5       # MITHRIL_MAX_PRICE_PER_HOUR: dollars per instance-hour
      requeue: true                  # requeue a preempted job
      region: us-central1-a
      partitions:
        big: {instance_type: h100-80gb.sxm.8x, max_price_per_hour: 20}

The file is $FLOWSLURM_CONFIG, else config.yaml in $FLOWSLURM_HOME when that is set (as
flowslurm.config reads it, so tests and `flow init` agree with the local backend's settings), else
config.yaml in platformdirs' user config dir. A file holding an API key that others can read is
refused, as ssh refuses a loose private key. The key is held as a `Secret`: no repr, str or
message shows it. PyYAML is imported only when a file exists.

Per job, sbatch also reads `#FLOW` lines (`flow_directives`) and decides the backend
(`choose_backend`) here, before anything touches the network: this module is all it imports to
know whether a job is local.
"""

from __future__ import annotations

import os

from flowslurm.errors import FlowError, SlurmInputError
from flowslurm.providers.mithril.models import Secret
from flowslurm.record import FrozenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

__all__ = ["BACKENDS", "CLOUD_PARTITION", "DEFAULT_API_URL", "FLOW_KEYS", "PartitionSettings", "Settings",
           "SettingsError", "choose_backend", "config_path", "effective_partition", "flow_directives", "load_settings",
           "save_settings"]

BACKENDS = ("local", "mithril")
DEFAULT_API_URL = "https://api.mithril.ai"
DEFAULT_SSH_USER = "ubuntu"
MITHRIL_KEYS = ("api_key", "api_url", "project", "ssh_user", "ssh_key", "max_price_per_hour", "requeue", "region",
                "partitions")
PARTITION_KEYS = ("instance_type", "gpu_type", "max_price_per_hour", "region")
ENVIRONMENT = {  # variable -> key under `mithril:` (FLOWSLURM_BACKEND is the top-level `backend`)
    "MITHRIL_API_KEY": "api_key", "MITHRIL_API_URL": "api_url", "MITHRIL_PROJECT": "project",
    "MITHRIL_SSH_USER": "ssh_user", "MITHRIL_SSH_KEY": "ssh_key", "MITHRIL_MAX_PRICE_PER_HOUR": "max_price_per_hour",
}


class SettingsError(FlowError):
    """A config file or variable flowslurm cannot use; the message names where and what is accepted."""


class PartitionSettings(FrozenRecord):
    """A named cloud partition: `-p big` picks what it says (each field optional)."""

    __slots__ = ("instance_type", "gpu_type", "max_price_per_hour", "region")

    def __init__(self, instance_type: str | None = None, gpu_type: str | None = None,
                 max_price_per_hour: float | None = None, region: str | None = None) -> None:
        init = object.__setattr__
        init(self, "instance_type", instance_type)
        init(self, "gpu_type", gpu_type)
        init(self, "max_price_per_hour", max_price_per_hour)
        init(self, "region", region)

    if TYPE_CHECKING:
        instance_type: str | None
        gpu_type: str | None
        max_price_per_hour: float | None
        region: str | None

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}


class Settings(FrozenRecord):
    """Everything the Mithril backend is configured with. `api_key` is a Secret (or None);
    `config_file` is the file that was read (None when there was none)."""

    __slots__ = ("backend", "api_key", "api_url", "project", "ssh_user", "ssh_key", "max_price_per_hour", "requeue",
                 "region", "partitions", "config_file")

    def __init__(self, backend: str = "local", api_key: Secret | str | None = None, api_url: str = DEFAULT_API_URL,
                 project: str | None = None, ssh_user: str = DEFAULT_SSH_USER, ssh_key: str | None = None,
                 max_price_per_hour: float | None = None, requeue: bool = True, region: str | None = None,
                 partitions: Mapping[str, PartitionSettings] | None = None, config_file: str | None = None) -> None:
        init = object.__setattr__
        init(self, "backend", backend)
        init(self, "api_key", Secret(api_key) if isinstance(api_key, str) else api_key)
        init(self, "api_url", api_url)
        init(self, "project", project)
        init(self, "ssh_user", ssh_user)
        init(self, "ssh_key", ssh_key)
        init(self, "max_price_per_hour", max_price_per_hour)
        init(self, "requeue", requeue)
        init(self, "region", region)
        init(self, "partitions", dict(partitions or {}))
        init(self, "config_file", config_file)

    if TYPE_CHECKING:
        backend: str
        api_key: Secret | None
        api_url: str
        project: str | None
        ssh_user: str
        ssh_key: str | None
        max_price_per_hour: float | None
        requeue: bool
        region: str | None
        partitions: dict[str, PartitionSettings]
        config_file: str | None

    def __hash__(self) -> int:  # partitions is a dict
        return hash((self.backend, self.api_url, self.project, self.ssh_user, self.config_file))

    def __repr__(self) -> str:
        key = "None" if self.api_key is None else "<hidden>"
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__ if n != "api_key")
        return f"Settings(api_key={key}, {shown})"

    __str__ = __repr__

    def api_key_value(self) -> str | None:
        """The key itself, for the HTTP client only."""
        return None if self.api_key is None else self.api_key.reveal()


# -- where the file is --------------------------------------------------------------------------

def config_path(environ: Mapping[str, str] | None = None) -> str:
    """The config file path (it may not exist); see flowslurm.config.config_path."""
    from flowslurm.config import config_path as path

    return path(environ)


# -- values -------------------------------------------------------------------------------------

def _bad(where: str, key: str, value: object, accepted: str) -> SettingsError:
    shown = "<hidden>" if key.lower().endswith("api_key") else repr(value)
    place = key if where.startswith("$") else f"{where}: {key}"  # an environment variable names itself
    return SettingsError(f"{place}: {shown} is not accepted; {accepted}",
                         [f"Fix {key} in {where}"] if not where.startswith("$") else [f"Fix or unset {where[1:]}"])


def _text(where: str, key: str, value: object, *, blank_ok: bool = False) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # YAML reads `project: 1234` as a number
    if not isinstance(value, str) or (not blank_ok and not value.strip()):
        raise _bad(where, key, value, "expected a non-empty string")
    return value.strip()


def parse_price(where: str, key: str, value: object) -> float:
    """Dollars per instance-hour: 12.5, "12.50" or "$12.50"; positive and finite."""
    import math

    if isinstance(value, bool):
        raise _bad(where, key, value, "expected dollars per instance-hour, such as 12.5 or $12.50")
    text = value.strip().lstrip("$").replace(",", "") if isinstance(value, str) else value
    try:
        price = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _bad(where, key, value, "expected dollars per instance-hour, such as 12.5 or $12.50") from None
    if not math.isfinite(price) or price <= 0:
        raise _bad(where, key, value, "expected a positive number of dollars per instance-hour")
    return price


def parse_bool(where: str, key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "true", "on", "1", "no", "false", "off", "0"):
        return value.strip().lower() in ("yes", "true", "on", "1")
    raise _bad(where, key, value, "expected true or false (yes or no)")


def _url(where: str, key: str, value: object) -> str:
    url = _text(where, key, value)
    if not url.startswith(("http://", "https://")):
        raise _bad(where, key, value, "expected an http:// or https:// URL (unset it for the production API)")
    return url.rstrip("/")


def _user(where: str, key: str, value: object) -> str:
    user = _text(where, key, value)
    if any(c.isspace() for c in user) or user.startswith("-"):
        raise _bad(where, key, value, "expected a user name such as ubuntu")
    return user


def _backend(where: str, key: str, value: object) -> str:
    if not isinstance(value, str) or value.strip().lower() not in BACKENDS:
        raise _bad(where, key, value, "use local or mithril")
    return value.strip().lower()


def _api_key(where: str, key: str, value: object) -> Secret:
    if not isinstance(value, str) or not value.strip():
        raise _bad(where, key, value, "expected the key as a string (fkey_...)")
    return Secret(value.strip())


def _partitions(where: str, value: object) -> dict[str, PartitionSettings]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(where, "mithril.partitions", value, "expected a mapping of partition name to "
                   f"{{{', '.join(PARTITION_KEYS)}}}")
    out: dict[str, PartitionSettings] = {}
    for name, body in value.items():
        label = f"mithril.partitions.{name}"
        if not isinstance(name, str) or not name or any(c.isspace() or c == "," for c in name):
            raise _bad(where, "mithril.partitions", name, "partition names are words without blanks or commas")
        body = body or {}
        if not isinstance(body, dict):
            raise _bad(where, label, body, f"expected a mapping with keys among {', '.join(PARTITION_KEYS)}")
        unknown = [k for k in body if k not in PARTITION_KEYS]
        if unknown:
            raise _bad(where, f"{label}.{unknown[0]}", body[unknown[0]],
                       f"this key is unknown; accepted keys: {', '.join(PARTITION_KEYS)}")
        out[name] = PartitionSettings(
            instance_type=_text(where, f"{label}.instance_type", body["instance_type"])
            if body.get("instance_type") is not None else None,
            gpu_type=_text(where, f"{label}.gpu_type", body["gpu_type"]) if body.get("gpu_type") is not None else None,
            max_price_per_hour=parse_price(where, f"{label}.max_price_per_hour", body["max_price_per_hour"])
            if body.get("max_price_per_hour") is not None else None,
            region=_text(where, f"{label}.region", body["region"]) if body.get("region") is not None else None,
        )
    return out


_PARSERS = {
    "api_key": _api_key, "api_url": _url, "project": _text, "ssh_user": _user,
    "ssh_key": lambda w, k, v: os.path.expanduser(_text(w, k, v)), "max_price_per_hour": parse_price,
    "requeue": parse_bool, "region": _text,
}


# -- reading ------------------------------------------------------------------------------------

def _read_file(path: str) -> dict[str, Any]:
    """The file's top-level mapping ({} when there is no file)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
            mode = os.fstat(fh.fileno()).st_mode
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"could not read the flowslurm config file {path}: {exc.strerror}",
                            ["Check the file's permissions, or point FLOWSLURM_CONFIG at another file"]) from None
    import yaml

    try:
        parsed = yaml.safe_load(data.decode("utf-8")) if data.strip() else {}
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: the config file is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise SettingsError(f"{path}: not valid YAML{where}: {problem}",
                            ["The file holds `backend: local|mithril` and a `mithril:` mapping; see `flow init`"]
                            ) from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise SettingsError(f"{path}: expected a mapping of settings (backend:, mithril:, ...), "
                            f"got a {type(parsed).__name__}")
    mithril = parsed.get("mithril")
    if isinstance(mithril, dict) and mithril.get("api_key") and mode & 0o077:
        raise SettingsError(
            f"{path} holds a Mithril API key but other users can read it (mode {mode & 0o777:04o}): "
            f"run `chmod 600 {path}`",
            [f"chmod 600 {path}", "Or keep the key in MITHRIL_API_KEY instead of the file"])
    return parsed


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The effective settings: defaults < config file < environment (os.environ when None)."""
    env = os.environ if environ is None else environ
    path = config_path(env)
    data = _read_file(path)
    values: dict[str, Any] = {}
    if "backend" in data and data["backend"] is not None:
        values["backend"] = _backend(path, "backend", data["backend"])
    mithril = data.get("mithril")
    if mithril is not None:
        if not isinstance(mithril, dict):
            raise _bad(path, "mithril", mithril, f"expected a mapping with keys among {', '.join(MITHRIL_KEYS)}")
        unknown = [k for k in mithril if k not in MITHRIL_KEYS]
        if unknown:
            raise _bad(path, f"mithril.{unknown[0]}", mithril[unknown[0]],
                       f"this key is unknown; accepted keys: {', '.join(MITHRIL_KEYS)}")
        for key, parse in _PARSERS.items():
            if mithril.get(key) is not None:
                values[key] = parse(path, f"mithril.{key}", mithril[key])
        values["partitions"] = _partitions(path, mithril.get("partitions"))
    if env.get("FLOWSLURM_BACKEND"):
        values["backend"] = _backend("$FLOWSLURM_BACKEND", "FLOWSLURM_BACKEND", env["FLOWSLURM_BACKEND"])
    for var, key in ENVIRONMENT.items():
        if env.get(var):
            values[key] = _PARSERS[key](f"${var}", var, env[var])
    return Settings(**values, config_file=path if data else None)


# -- writing ------------------------------------------------------------------------------------

def settings_to_yaml_data(settings: Settings) -> dict[str, Any]:
    """What `save_settings` writes for `settings` (secrets included: the file is 0600)."""
    mithril: dict[str, Any] = {}
    if settings.api_key is not None:
        mithril["api_key"] = settings.api_key.reveal()
    if settings.api_url != DEFAULT_API_URL:
        mithril["api_url"] = settings.api_url
    for key in ("project", "ssh_key", "max_price_per_hour", "region"):
        if getattr(settings, key) is not None:
            mithril[key] = getattr(settings, key)
    if settings.ssh_user != DEFAULT_SSH_USER:
        mithril["ssh_user"] = settings.ssh_user
    if not settings.requeue:
        mithril["requeue"] = False
    if settings.partitions:
        mithril["partitions"] = {name: p.to_json() for name, p in settings.partitions.items()}
    return {"backend": settings.backend, "mithril": mithril}


def save_settings(settings: Settings, path: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Path:
    """Write `backend:` and `mithril:` to the config file (mode 0600, atomically: a crash leaves
    the old file or the new one, never half of one); other sections (`local:`) are kept."""
    import tempfile
    from pathlib import Path

    import yaml

    target = Path(path) if path is not None else Path(config_path(environ))
    current: dict[str, Any] = {}
    if target.exists():
        try:
            current = _read_file(str(target))
        except SettingsError as exc:
            if "chmod 600" not in exc.message:  # a loose file is about to be replaced by a 0600 one
                raise
            current = yaml.safe_load(target.read_text()) or {}
    current.update(settings_to_yaml_data(settings))
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".yaml", dir=str(target.parent))
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yaml.safe_dump(current, fh, default_flow_style=False, sort_keys=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target


# -- per job: #FLOW directives and the backend ---------------------------------------------------

FLOW_PREFIX = "#FLOW"
FLOW_KEYS = ("backend", "image", "instance-type", "max-price-per-hour", "partition", "region", "requeue",
             "upload-code")
_BOOL_KEYS = ("requeue", "upload-code")
CLOUD_PARTITION = "mithril"  # always the cloud, whatever FLOWSLURM_BACKEND says
_C_SPACE = " \t\n\v\f\r"

def _flow_error(line_no: int, text: str) -> SlurmInputError:
    return SlurmInputError(f"Invalid #FLOW directive at line {line_no}: {text}", 255)


def _flow_value(key: str, value: str, line_no: int) -> Any:
    shown = f"{key}={value!r}" if value else f"{key} needs a value"
    if not value.strip():
        raise _flow_error(line_no, f"{key} needs a value")
    try:
        if key == "backend":
            if value.lower() not in ("local", "mithril"):
                raise _flow_error(line_no, f"{shown}: use local or mithril")
            return value.lower()
        if key in _BOOL_KEYS:
            if value.lower() not in ("yes", "no", "true", "false"):
                raise _flow_error(line_no, f"{shown}: use yes or no")
            return parse_bool("", key, value)
        if key == "max-price-per-hour":
            return parse_price("", key, value)
    except SettingsError:
        raise _flow_error(line_no, f"{shown}: expected dollars per instance-hour, such as 12.5 or $12.50") from None
    if any(c in _C_SPACE or c == "," for c in value):
        raise _flow_error(line_no, f"{shown}: expected one word")
    return value


def _flow_items(words: list[str], line_no: int) -> list[tuple[str, str]]:
    """`key=value`, `--key=value`, `--key value`, and `--flag` / `--no-flag` for yes/no keys."""
    items: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        dashed = word.startswith("--")
        body = word[2:] if dashed else word
        if "=" in body:
            key, value = body.split("=", 1)
        elif not dashed:
            raise _flow_error(line_no, f"{word!r}: expected key=value or --key value")
        else:
            key = body
            norm = key.lower().replace("_", "-")
            if norm.startswith("no-") and norm[3:] in _BOOL_KEYS:
                key, value = norm[3:], "no"
            elif norm in _BOOL_KEYS and (i >= len(words) or words[i].startswith("-") or "=" in words[i]):
                value = "yes"
            elif i < len(words):
                value = words[i]
                i += 1
            else:
                raise _flow_error(line_no, f"--{key} needs a value")
        norm = key.lower().replace("_", "-")
        if norm not in FLOW_KEYS:
            raise _flow_error(line_no, f"unknown key {key!r} (known keys: {', '.join(FLOW_KEYS)})")
        items.append((norm, value))
    return items


def flow_directives(script_text: str | bytes, file_name: str = "stdin") -> dict[str, Any]:
    """The `#FLOW` settings of a batch script, keys with underscores (`instance_type`), values typed
    (`max_price_per_hour` a float, `requeue`/`upload_code` bools); a later line wins. Raises
    SlurmInputError whose message reads as "Invalid #FLOW directive at line N: ..."."""
    from flowslurm.slurm.directives import split_directive_words

    text = script_text.decode("utf-8", "surrogateescape") if isinstance(script_text, bytes) else script_text
    found: dict[str, Any] = {}
    lines = text.split("\n")
    for line_no, line in enumerate(lines, start=1):
        line = line.split("\0", 1)[0]
        if line.startswith(FLOW_PREFIX):
            rest = line[len(FLOW_PREFIX):]
            if rest and (rest[0].isalnum() or rest[0] == "_"):
                continue  # "#FLOWCHART": a plain comment
            words = split_directive_words(rest, file_name=file_name, line_no=line_no)
            for key, value in _flow_items(words, line_no):
                found[key.replace("-", "_")] = _flow_value(key, value, line_no)
            continue
        stripped = line.lstrip(_C_SPACE)
        if stripped and not stripped.startswith("#"):
            break  # sbatch stops reading directives at the first command
    return found


def effective_partition(partition: str | None, directives: Mapping[str, Any]) -> str:
    """The partition a cloud job is placed by: `#FLOW partition=` over `-p` (so a script can keep
    its cluster's `#SBATCH -p` and name a cloud partition for flowslurm)."""
    return str(directives.get("partition") or partition or "")


def choose_backend(partition: str | None, directives: Mapping[str, Any], settings: Settings) -> str:
    """"local" or "mithril": `#FLOW backend=` wins, then a partition the settings define or the
    partition "mithril", then the configured backend (FLOWSLURM_BACKEND, config `backend:`)."""
    backend = directives.get("backend")
    if backend:
        return str(backend)
    for name in (str(directives.get("partition") or ""), str(partition or "")):
        for part in name.split(","):  # -p a,b: SLURM's list of acceptable partitions
            if part == CLOUD_PARTITION or part in settings.partitions:
                return "mithril"
    return settings.backend
