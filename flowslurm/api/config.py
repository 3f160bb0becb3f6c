"""TaskConfig: a task as the Flow SDK describes it, validated when made and when changed.

The one place pydantic is used: it gives typed fields, coercion ("256" stays a string, 5 becomes
5.0 for a price) and a precise location for every problem. Its own ValidationError never leaves
this module: `TaskConfig(...)` and `config.field = value` raise `flow.errors.ValidationError`,
whose message names each bad field and whose suggestions say what is accepted (for an unknown
instance type, the valid names closest to it).
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flowslurm.api import instance_types
from flowslurm.api.errors import ValidationError

__all__ = ["TaskConfig", "VolumeSpec", "validation_error"]

NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
VOLUME_NAME_HINT = "lower-case letters, digits and '-', starting with a letter (e.g. training-data)"


class VolumeSpec(BaseModel):
    """A volume a task mounts: an existing one (`volume_id` or `name`), or a new one (`size_gb`,
    with an optional `name`; an existing volume of that name is reused)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    mount_path: str
    name: Optional[str] = None
    volume_id: Optional[str] = None
    size_gb: Optional[int] = Field(default=None, gt=0, le=16384)
    interface: Literal["block", "file"] = "block"

    @field_validator("mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or value.strip() != value or value == "/":
            raise ValueError("mount_path must be an absolute directory such as /data")
        return value

    @field_validator("name")
    @classmethod
    def _volume_name(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        ok = (0 < len(value) <= 64 and value[0].isalpha() and value[0].islower() and value[-1] != "-"
              and all(c.islower() or c.isdigit() or c == "-" for c in value))
        if not ok:
            raise ValueError(f"volume name {value!r} is not valid: use {VOLUME_NAME_HINT}")
        return value

    @model_validator(mode="after")
    def _something(self) -> VolumeSpec:
        if self.volume_id is None and self.name is None and self.size_gb is None:
            raise ValueError("a volume needs a volume_id, a name, or a size_gb for a new one")
        return self


class TaskConfig(BaseModel):
    """A task: what to run, where, and within which limits (the seed's fields).

    No `instance_type` runs the task on this machine (the local backend); one of the names in
    `flow instances` (a100, 4xa100, 8xh100, ...) runs it on a Mithril cloud instance."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = "flow-task"
    instance_type: Optional[str] = None
    command: Optional[Union[str, list[str]]] = None
    env: dict[str, str] = Field(default_factory=dict)
    volumes: list[VolumeSpec] = Field(default_factory=list)
    max_price_per_hour: Optional[float] = Field(default=None, gt=0)
    max_run_time_hours: Optional[float] = Field(default=None, gt=0)
    ssh_keys: list[str] = Field(default_factory=list)
    image: Optional[str] = None
    ports: list[int] = Field(default_factory=list)
    num_instances: int = Field(default=1, ge=1, le=64)
    working_dir: Optional[str] = None
    upload_code: bool = True
    region: Optional[str] = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except Exception as exc:  # pydantic's ValidationError: ours instead, as the docs promise
            if type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic"):
                ours = validation_error(exc)
                ours.pydantic_error = exc  # type: ignore[attr-defined]  # yamlspec adds line numbers from it
                raise ours from None
            raise

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except Exception as exc:
            if type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic"):
                raise validation_error(exc) from None
            raise

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value or len(value) > 128 or not set(value) <= NAME_CHARS:
            raise ValueError(f"task name {value!r} is not valid: use letters, digits, '.', '_' and '-' "
                             "(at most 128)")
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        instance_types.parse_instance_type(value)  # raises ValueError naming the closest valid names
        return value.strip()

    @field_validator("command")
    @classmethod
    def _command(cls, value: Optional[Union[str, list[str]]]) -> Optional[Union[str, list[str]]]:
        if isinstance(value, list) and not value:
            raise ValueError("command is an empty list: give the program and its arguments")
        if isinstance(value, str) and not value.strip():
            raise ValueError("command is empty")
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key or not (key[0].isalpha() or key[0] == "_") \
                    or not all(c.isalnum() or c == "_" for c in key) or not key.isascii():
                raise ValueError(f"environment variable name {key!r} is not valid (letters, digits and _, "
                                 "not starting with a digit)")
            if isinstance(item, bool):
                item = "true" if item else "false"
            elif isinstance(item, (int, float)):
                item = str(item)
            out[key] = item
        return out

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        for port in value:
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} is not within 1..65535")
        return value

    @field_validator("working_dir")
    @classmethod
    def _working_dir(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not value.strip():
            raise ValueError("working_dir is empty")
        return value

    @model_validator(mode="after")
    def _cloud_only(self) -> TaskConfig:
        if self.instance_type is None and self.num_instances > 1:
            raise ValueError("num_instances > 1 needs an instance_type: the local backend is one machine")
        return self

    def instance_request(self) -> Optional[instance_types.InstanceRequest]:
        return None if self.instance_type is None else instance_types.parse_instance_type(self.instance_type)

    @property
    def backend(self) -> str:
        """"local" (no instance type) or "mithril"."""
        return "local" if self.instance_type is None else "mithril"


def _loc(parts: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in parts) or "(config)"


def _message(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    return msg


def _suggestions(err: dict[str, Any], fields: list[str]) -> list[str]:
    from difflib import get_close_matches

    loc = tuple(err.get("loc") or ())
    if err.get("type") == "extra_forbidden" and loc:
        key = str(loc[-1]).lower()
        close = [f for f in fields if f.startswith(key) or key.startswith(f)] or get_close_matches(key, fields, n=1)
        fix = f"Did you mean {close[0]!r}? " if close else ""
        return [f"{fix}Known fields: {', '.join(fields)}"]
    if loc and loc[0] == "instance_type":
        value = err.get("input")
        close = instance_types.suggest(str(value)) if isinstance(value, str) else []
        out = [f"Did you mean {' or '.join(repr(c) for c in close)}?"] if close else []
        return out + [instance_types.valid_names_hint()]
    return []


def validation_error(exc: Any, where: str = "", lines: dict[tuple[Any, ...], int] | None = None) -> ValidationError:
    """Our ValidationError for a pydantic one; `lines` maps a field location to its line in a file
    (see flowslurm.api.yamlspec), `where` names the file."""
    problems: list[dict[str, Any]] = []
    suggestions: list[str] = []
    fields = list(TaskConfig.model_fields)
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc") or ())
        if loc and loc[-1] in ("str", "list[str]", "int", "float", "bool") and len(loc) > 1:
            loc = loc[:-1]  # union branches: name the field, not pydantic's branch
        line = _line_for(loc, lines) if lines else None
        problems.append({"loc": _loc(loc), "line": line, "message": _message(err)})
        for s in _suggestions({**err, "loc": loc}, fields if len(loc) <= 1 else list(VolumeSpec.model_fields)):
            if s not in suggestions:
                suggestions.append(s)
    seen: set[tuple[str, str]] = set()
    unique = []
    for p in problems:
        key = (p["loc"], p["message"])
        if key not in seen:
            seen.add(key)
            unique.append(p)
    unique.sort(key=lambda p: p["line"] or 0)
    texts = []
    for p in unique:
        place = f"{where}:{p['line']}: " if where and p["line"] else (f"{where}: " if where else "")
        texts.append(f"{place}{p['loc']}: {p['message']}")
    head = f"{where + ': ' if where else ''}invalid task configuration ({len(texts)} problems)" if len(texts) != 1 else ""
    message = texts[0] if not head else head + ":\n  " + "\n  ".join(texts)
    return ValidationError(message, suggestions, unique)


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    """The line of the deepest part of `loc` the file has (a missing field: its parent's line)."""
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None
