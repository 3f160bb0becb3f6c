"""TaskConfig validation, YAML task files with line-precise errors, instance type names, the
error tree. No jobs run here."""

from __future__ import annotations

from pathlib import Path

import pytest

import flow.errors as fe
from flow import TaskConfig
from flowslurm.api.instance_types import parse_instance_type
from flowslurm.api.yamlspec import load_task_file, load_task_text


def test_unknown_instance_type_suggests_valid_names() -> None:
    with pytest.raises(fe.ValidationError) as err:
        TaskConfig(name="x", instance_type="a10O")
    e = err.value
    assert e.message == "instance_type: unknown instance type 'a10O'"
    assert any("a100" in s for s in e.suggestions)
    assert any("4xa100" in s and "8xh100" in s for s in e.suggestions)
    assert isinstance(e, ValueError) and isinstance(e, fe.FlowError)
    assert e.errors == [{"loc": "instance_type", "line": None, "message": "unknown instance type 'a10O'"}]


@pytest.mark.parametrize("name,expect", [
    ("a100", ("a100", "a100", 1)), ("1xa100", ("a100", "a100", 1)), ("4xa100", ("4xa100", "a100", 4)),
    ("8xh100", ("8xh100", "h100", 8)), ("h100", ("h100", "h100", 1)), ("1xh100", ("h100", "h100", 1)),
    ("a100:4", ("4xa100", "a100", 4)), ("H100x8", ("8xh100", "h100", 8)), ("4x a100", ("4xa100", "a100", 4)),
])
def test_seed_names_aliases_and_spellings(name: str, expect: tuple[str, str, int]) -> None:
    req = parse_instance_type(name)
    assert (req.name, req.family, req.count) == expect
    assert req.gpus_per_node == f"{expect[1]}:{expect[2]}"


def test_mithril_type_names_pass_through_and_bad_counts_fail() -> None:
    assert parse_instance_type("a100-80gb.sxm.1x").api_name == "a100-80gb.sxm.1x"
    with pytest.raises(ValueError, match="3 GPUs"):
        parse_instance_type("3xa100")


def test_unknown_fields_bad_values_and_assignment() -> None:
    with pytest.raises(fe.ValidationError) as err:
        TaskConfig(instance="a100")
    assert "instance: unknown field" in err.value.message
    assert err.value.suggestions[0].startswith("Did you mean 'instance_type'?")
    config = TaskConfig(name="training", instance_type="a100", command="python train.py")
    config.volumes = [{"name": "datasets", "mount_path": "/data"}]
    assert config.volumes[0].name == "datasets"
    with pytest.raises(fe.ValidationError, match="max_price_per_hour"):
        config.max_price_per_hour = -1
    with pytest.raises(fe.ValidationError, match="mount_path"):
        config.volumes = [{"name": "datasets", "mount_path": "data"}]
    with pytest.raises(fe.ValidationError, match="volume name"):
        TaskConfig(volumes=[{"name": "Bad_Name", "mount_path": "/d"}])
    with pytest.raises(fe.ValidationError, match="port"):
        TaskConfig(ports=[70000])
    with pytest.raises(fe.ValidationError, match="environment variable name"):
        TaskConfig(env={"1X": "y"})


def test_yaml_errors_name_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("name: model-training\ninstance: 4xa100\ncommand: python train.py\nvolumes:\n"
                    "  - size_gb: -5\n    mount_path: /data\nmax_price_per_hour: cheap\n")
    with pytest.raises(fe.ValidationError) as err:
        load_task_file(str(path))
    lines = {(p["loc"], p["line"]) for p in err.value.errors}
    assert lines == {("instance", 2), ("volumes.0.size_gb", 5), ("max_price_per_hour", 7)}
    assert f"{path}:2: instance: unknown field" in err.value.message
    with pytest.raises(fe.ValidationError, match=r"x.yaml:3: "):
        load_task_text("name: a\ncommand: [echo\n", "x.yaml")
    with pytest.raises(fe.ValidationError, match="unknown instance type"):
        load_task_text("name: a\ninstance_type: 9xq100\n", "x.yaml")
    with pytest.raises(fe.ValidationError, match="expected a mapping"):
        load_task_text("- a\n", "x.yaml")


def test_the_seed_yaml_is_valid() -> None:
    text = """# config.yaml
name: model-training
instance_type: 4xa100
command: python train.py --epochs 100
env:
  BATCH_SIZE: "256"
  LEARNING_RATE: "0.001"
volumes:
  - size_gb: 500
    mount_path: /data
    name: training-data
max_price_per_hour: 20.0
max_run_time_hours: 72.0
ssh_keys:
  - my-ssh-key
"""
    config = load_task_text(text)
    assert config.instance_type == "4xa100" and config.volumes[0].size_gb == 500
    assert config.env == {"BATCH_SIZE": "256", "LEARNING_RATE": "0.001"} and config.ssh_keys == ["my-ssh-key"]


def test_error_tree_and_exit_codes() -> None:
    from flowslurm.api.errors import exit_code_of, translate
    from flowslurm.errors import FlowError as Base
    from flowslurm.providers.mithril import errors as m

    assert fe.FlowError is Base
    for name in fe.__all__:
        cls = getattr(fe, name)
        assert issubclass(cls, Base), name
        err = cls("msg", ["try this"])
        assert (err.message, err.suggestions) == ("msg", ["try this"])
    codes = {fe.UsageError: 2, fe.ValidationError: 3, fe.ResourceNotFoundError: 4, fe.AuthenticationError: 5,
             fe.APIError: 6, fe.TimeoutError: 6, fe.QuotaExceededError: 7, fe.TaskFailedError: 8}
    for cls, code in codes.items():
        assert exit_code_of(cls("x")) == code
    assert isinstance(translate(m.AuthenticationError("bad key")), fe.AuthenticationError)
    assert isinstance(translate(m.QuotaExceededError("quota")), fe.QuotaExceededError)
    assert isinstance(translate(m.ServiceError("5xx")), fe.APIError)
    assert exit_code_of(m.UnreachableError("down")) == 6
    assert exit_code_of(RuntimeError("bug")) == 1
