"""@flow.function and flow.invoke on the local backend: each remote call is a real task whose
runner imports the user's file, and whose result comes back through its output."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import flow
from flow.errors import RemoteExecutionError, ValidationError
from tests.conftest import Cluster

MODULE = '''
from flow import function

@function
def train_model(data_path: str, epochs: int = 100):
    return {"accuracy": 0.95, "data": data_path, "epochs": epochs}

@function()
def broken():
    raise KeyError("no such column")

def plain(x, y=1):
    return [x, y]

# a call at import time must not submit another task when the runner imports this file
IMPORT_TIME = train_model.remote("at-import", epochs=1)
'''


def _script(cluster: Cluster, body: str) -> subprocess.CompletedProcess[str]:
    (cluster.workdir / "models.py").write_text(MODULE)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True,
                          env=cluster.env | {"PYTHONPATH": str(cluster.workdir.parents[0]) + ":" +
                                             str(__import__("pathlib").Path(flow.__file__).parents[1])},
                          cwd=str(cluster.workdir), timeout=60)


def test_remote_and_local_calls(flow_env: Cluster) -> None:
    res = _script(flow_env, """
        import flow
        from models import train_model, broken
        print(train_model("./local.csv"))
        print(train_model.remote("s3://data.csv", epochs=50))
        try:
            broken.remote()
        except flow.errors.RemoteExecutionError as e:
            print("remote error:", e.remote_type, e.message)
        print(len(flow.list_tasks()))
    """)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "{'accuracy': 0.95, 'data': './local.csv', 'epochs': 100}"
    assert lines[1] == "{'accuracy': 0.95, 'data': 's3://data.csv', 'epochs': 50}"
    assert lines[2].startswith("remote error: KeyError KeyError: 'no such column'")
    # three tasks: the import-time call made here, and the two calls; inside each task the runner's
    # import of models.py ran its import-time call in place instead of submitting a fourth
    assert lines[3] == "3"


def test_invoke_runs_a_file_without_flow_imports(flow_env: Cluster) -> None:
    (flow_env.workdir / "train.py").write_text("def train_model(path, scale=2):\n    return [path] * scale\n")
    from flow import invoke

    assert invoke("train.py", "train_model", args=["s3://data"]) == ["s3://data", "s3://data"]
    assert invoke("train.py", "train_model", args=["x"], kwargs={"scale": 1}) == ["x"]
    with pytest.raises(RemoteExecutionError, match="AttributeError"):
        invoke("train.py", "missing")
    with pytest.raises(ValidationError, match="no Python file"):
        invoke("nope.py", "f")
    with pytest.raises(ValidationError, match="JSON"):
        invoke("train.py", "train_model", args=[object()])


def test_decorator_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="unknown instance type"):
        flow.function(gpu="z100")
    with pytest.raises(ValidationError, match="inside a function"):
        @flow.function
        def inner() -> None:
            pass

        inner.spawn()
