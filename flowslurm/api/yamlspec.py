"""YAML task files (`flow run job.yaml`): the seed's keys, checked with the line of each problem.

The file is composed into YAML nodes first, which keep their line numbers, then turned into data
and validated by TaskConfig. Every problem pydantic reports is located back in the file, so

    job.yaml:3: instance: unknown field (did you mean 'instance_type'?)
    job.yaml:9: volumes.0.size_gb: Input should be greater than 0

points at the line to fix. Keys are the TaskConfig fields (name, instance_type, command, env,
volumes, max_price_per_hour, max_run_time_hours, ssh_keys, image, ports, num_instances,
working_dir, upload_code, region).
"""

from __future__ import annotations

from flowslurm.api.errors import ValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowslurm.api.config import TaskConfig

__all__ = ["load_task_file", "load_task_text"]


def _lines(node: Any, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    """Each location's 1-based line: a mapping key's line for its value's location."""
    import yaml

    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            out[(*path, name)] = key.start_mark.line + 1
            _lines(value, (*path, name), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            out[(*path, index)] = item.start_mark.line + 1
            _lines(item, (*path, index), out)


def load_task_text(text: str, where: str = "<yaml>") -> TaskConfig:
    """A TaskConfig from YAML text; ValidationError naming `where` and the line of each problem."""
    import yaml

    from flowslurm.api.config import TaskConfig, validation_error

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ValidationError(f"{where}{line}: {problem}", ["Check the indentation and quoting on that line"],
                              [{"loc": "", "line": mark.line + 1 if mark else None, "message": problem}]) from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ValidationError(f"{where}: expected a mapping of task fields (name:, command:, ...), got {got}",
                              [f"Fields: {', '.join(TaskConfig.model_fields)}"])
    lines: dict[tuple[Any, ...], int] = {}
    _lines(node, (), lines)
    for key in data:
        if not isinstance(key, str):
            raise ValidationError(f"{where}:{lines.get((key,), '?')}: key {key!r} is not a field name")
    try:
        return TaskConfig(**data)
    except ValidationError as exc:
        raw = getattr(exc, "pydantic_error", None)
        if raw is None:
            raise
        raise validation_error(raw, where, lines) from None


def load_task_file(path: str) -> TaskConfig:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise ValidationError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}") from None
    return load_task_text(text, path)
