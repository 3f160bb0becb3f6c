"""Settings (defaults < config file < environment), #FLOW directives and the choice of backend."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from flowslurm.errors import SlurmInputError
from flowslurm.providers.mithril.settings import (
    DEFAULT_API_URL,
    PartitionSettings,
    Settings,
    SettingsError,
    choose_backend,
    config_path,
    flow_directives,
    load_settings,
    save_settings,
)

KEY = "fkey_SecretSettingsKey0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]


def write_config(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def env_for(path: Path, **more: str) -> dict[str, str]:
    return {"FLOWSLURM_CONFIG": str(path), **more}


# -- sources and precedence -------------------------------------------------------------------------

def test_defaults_without_a_file_or_variables(tmp_path: Path) -> None:
    settings = load_settings(env_for(tmp_path / "none.yaml"))
    assert settings == Settings()
    assert (settings.backend, settings.api_url, settings.ssh_user, settings.requeue) == ("local", DEFAULT_API_URL,
                                                                                        "ubuntu", True)
    assert settings.api_key is None and settings.project is None and settings.max_price_per_hour is None
    assert settings.partitions == {} and settings.config_file is None


def test_config_file_then_environment_wins(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.yaml", f"""
backend: mithril
local: {{cpus: 4}}
mithril:
  api_key: {KEY}
  api_url: http://127.0.0.1:9/
  project: research
  ssh_user: root
  ssh_key: ~/keys/id_ed25519
  max_price_per_hour: "$12.50"
  requeue: no
  region: us-central1-a
  partitions:
    big: {{instance_type: h100-80gb.sxm.8x, max_price_per_hour: 20}}
    cheap: {{gpu_type: a100, region: us-central1-b}}
""")
    settings = load_settings(env_for(path))
    assert settings.backend == "mithril" and settings.api_key_value() == KEY
    assert settings.api_url == "http://127.0.0.1:9" and settings.project == "research"
    assert settings.ssh_user == "root" and settings.ssh_key == os.path.expanduser("~/keys/id_ed25519")
    assert settings.max_price_per_hour == 12.5 and settings.requeue is False and settings.region == "us-central1-a"
    assert settings.partitions == {"big": PartitionSettings(instance_type="h100-80gb.sxm.8x", max_price_per_hour=20.0),
                                   "cheap": PartitionSettings(gpu_type="a100", region="us-central1-b")}
    assert settings.config_file == str(path)

    env = env_for(path, FLOWSLURM_BACKEND="local", MITHRIL_API_KEY="fkey_fromTheEnvironment",
                  MITHRIL_API_URL="https://example.test", MITHRIL_PROJECT="proj_abc", MITHRIL_SSH_USER="ubuntu",
                  MITHRIL_SSH_KEY="/k/id", MITHRIL_MAX_PRICE_PER_HOUR="3", MITHRIL_UNRELATED="")
    overridden = load_settings(env)
    assert overridden.backend == "local" and overridden.api_key_value() == "fkey_fromTheEnvironment"
    assert (overridden.api_url, overridden.project, overridden.ssh_user, overridden.ssh_key) == (
        "https://example.test", "proj_abc", "ubuntu", "/k/id")
    assert overridden.max_price_per_hour == 3.0
    assert overridden.region == "us-central1-a" and overridden.requeue is False  # not in the environment: the file's
    assert load_settings(env_for(path, MITHRIL_PROJECT="")).project == "research"  # empty = unset


def test_config_path_follows_flowslurm_config_then_home(tmp_path: Path) -> None:
    assert config_path({"FLOWSLURM_CONFIG": "/x/c.yaml", "FLOWSLURM_HOME": "/h"}) == "/x/c.yaml"
    assert config_path({"FLOWSLURM_HOME": "/h"}) == "/h/config.yaml"
    default = config_path({})
    assert default.endswith(os.path.join("flowslurm", "config.yaml"))
    write_config(tmp_path / "config.yaml", "backend: mithril\n")
    assert load_settings({"FLOWSLURM_HOME": str(tmp_path)}).backend == "mithril"


# -- the key stays secret -----------------------------------------------------------------------------

def test_a_readable_file_holding_a_key_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.yaml", f"mithril:\n  api_key: {KEY}\n", mode=0o644)
    with pytest.raises(SettingsError) as caught:
        load_settings(env_for(path))
    message = caught.value.message
    assert str(path) in message and f"chmod 600 {path}" in message and "0644" in message
    assert KEY not in message and KEY not in " ".join(caught.value.suggestions)
    os.chmod(path, 0o600)
    assert load_settings(env_for(path)).api_key_value() == KEY
    keyless = write_config(tmp_path / "open.yaml", "backend: mithril\nmithril: {project: research}\n", mode=0o644)
    assert load_settings(env_for(keyless)).project == "research"  # nothing secret in it: readable is fine


def test_repr_and_str_never_show_the_key(tmp_path: Path) -> None:
    settings = load_settings(env_for(tmp_path / "none.yaml", MITHRIL_API_KEY=KEY))
    for text in (repr(settings), str(settings), f"{settings}", repr(settings.api_key), repr([settings])):
        assert KEY not in text
    assert "<hidden>" in repr(settings)
    assert settings.api_key_value() == KEY


# -- bad files and values -------------------------------------------------------------------------------

def test_bad_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.yaml", "backend: mithril\nmithril:\n  project: [unclosed\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(env_for(path))
    assert str(path) in caught.value.message and "not valid YAML" in caught.value.message
    assert "line" in caught.value.message
    listing = write_config(tmp_path / "list.yaml", "- backend\n- mithril\n")
    with pytest.raises(SettingsError, match="expected a mapping"):
        load_settings(env_for(listing))


@pytest.mark.parametrize(("text", "key", "accepted"), [
    ("backend: cloud\n", "backend", "local or mithril"),
    ("mithril: {max_price_per_hour: cheap}\n", "mithril.max_price_per_hour", "dollars per instance-hour"),
    ("mithril: {max_price_per_hour: -3}\n", "mithril.max_price_per_hour", "positive"),
    ("mithril: {requeue: maybe}\n", "mithril.requeue", "true or false"),
    ("mithril: {api_url: ftp://x}\n", "mithril.api_url", "https://"),
    ("mithril: {ssh_user: 'two words'}\n", "mithril.ssh_user", "user name"),
    ("mithril: {api-key: x}\n", "mithril.api-key", "accepted keys: api_key, api_url"),
    ("mithril: {partitions: {big: {gpu: h100}}}\n", "mithril.partitions.big.gpu", "instance_type, gpu_type"),
    ("mithril: [1, 2]\n", "mithril", "expected a mapping"),
])
def test_a_bad_value_names_file_key_and_what_is_accepted(tmp_path: Path, text: str, key: str, accepted: str) -> None:
    path = write_config(tmp_path / "config.yaml", text)
    with pytest.raises(SettingsError) as caught:
        load_settings(env_for(path))
    message = caught.value.message
    assert message.startswith(f"{path}: {key}:") and accepted in message


def test_a_bad_variable_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env_for(tmp_path / "none.yaml", MITHRIL_MAX_PRICE_PER_HOUR="lots"))
    assert "MITHRIL_MAX_PRICE_PER_HOUR" in caught.value.message and "12.5" in caught.value.message
    with pytest.raises(SettingsError, match="FLOWSLURM_BACKEND.*local or mithril"):
        load_settings(env_for(tmp_path / "none.yaml", FLOWSLURM_BACKEND="slurm"))


# -- writing ------------------------------------------------------------------------------------------

def test_save_writes_0600_atomically_and_keeps_other_sections(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.yaml", "local:\n  cpus: 4\nbackend: local\n", mode=0o644)
    settings = Settings(backend="mithril", api_key=KEY, project="research", max_price_per_hour=9.5,
                        partitions={"big": PartitionSettings(instance_type="h100-80gb.sxm.8x")})
    assert save_settings(settings, environ=env_for(path)) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["config.yaml"]  # no temporary file left behind
    again = load_settings(env_for(path))
    assert again.copy(config_file=None) == settings
    assert "cpus: 4" in path.read_text()

    fresh = tmp_path / "new" / "dir" / "config.yaml"
    save_settings(Settings(api_key=KEY), fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600 and load_settings(env_for(fresh)).api_key_value() == KEY


# -- #FLOW directives ---------------------------------------------------------------------------------

SCRIPT = """#!/bin/bash
#SBATCH -N 1
# a comment, then a blank line

#FLOW backend=mithril
#FLOW --instance-type h100-80gb.sxm.8x --region=us-central1-a
#FLOW --max-price-per-hour $12.50 --no-requeue
#FLOW upload-code=no image=nvcr.io/nvidia/pytorch:24.01-py3 # trailing note
#FLOW partition=gpu
#FLOW region=eu-central1-a
##FLOW backend=local
  #FLOW backend=local
#FLOWCHART: boxes and arrows
echo start
#FLOW backend=local
"""


def test_flow_directives_read_the_header_like_sbatch() -> None:
    assert flow_directives(SCRIPT) == {
        "backend": "mithril", "instance_type": "h100-80gb.sxm.8x", "region": "eu-central1-a",
        "max_price_per_hour": 12.5, "requeue": False, "upload_code": False,
        "image": "nvcr.io/nvidia/pytorch:24.01-py3", "partition": "gpu",
    }
    assert flow_directives(SCRIPT.encode()) == flow_directives(SCRIPT)
    assert flow_directives("#!/bin/sh\n#FLOW --requeue\n#FLOW --upload-code yes\n") == {"requeue": True,
                                                                                         "upload_code": True}
    assert flow_directives("#!/bin/sh\necho hi\n") == {}


@pytest.mark.parametrize(("line", "expected"), [
    ("#FLOW gpu=h100", "unknown key 'gpu' (known keys: backend, image, instance-type"),
    ("#FLOW backend=cloud", "backend='cloud': use local or mithril"),
    ("#FLOW max-price-per-hour=cheap", "expected dollars per instance-hour"),
    ("#FLOW --max-price-per-hour=0", "expected dollars per instance-hour"),
    ("#FLOW requeue=maybe", "use yes or no"),
    ("#FLOW --region", "--region needs a value"),
    ("#FLOW region=", "region needs a value"),
    ("#FLOW h100", "'h100': expected key=value or --key value"),
    ("#FLOW --partition 'a b'", "expected one word"),
])
def test_a_bad_flow_directive_reads_as_an_sbatch_error(line: str, expected: str) -> None:
    with pytest.raises(SlurmInputError) as caught:
        flow_directives(f"#!/bin/sh\n#SBATCH -n 1\n{line}\nhostname\n")
    assert caught.value.message.startswith("Invalid #FLOW directive at line 3: ")
    assert expected in caught.value.message
    assert "\n" not in caught.value.message and not caught.value.message.startswith("sbatch:")


# -- backend choice -------------------------------------------------------------------------------------

def test_choose_backend_order() -> None:
    local = Settings(partitions={"big": PartitionSettings(instance_type="h100-80gb.sxm.8x")})
    cloud = local.copy(backend="mithril")
    assert choose_backend(None, {}, local) == "local"
    assert choose_backend(None, {}, cloud) == "mithril"
    assert choose_backend("big", {}, local) == "mithril"  # a partition the settings define
    assert choose_backend("debug,big", {}, local) == "mithril"
    assert choose_backend("mithril", {}, local) == "mithril"  # always the cloud
    assert choose_backend("gpu", {"partition": "big"}, local) == "mithril"
    assert choose_backend("h100", {}, local) == "local"  # a GPU family filters, under the mithril backend only
    assert choose_backend("mithril", {"backend": "local"}, cloud) == "local"  # #FLOW backend wins
    assert choose_backend(None, {"backend": "mithril"}, local) == "mithril"


def test_deciding_the_backend_imports_no_network_library(tmp_path: Path) -> None:
    code = ("import sys\n"
            "from flowslurm.providers.mithril.settings import load_settings, flow_directives, choose_backend\n"
            "s = load_settings()\n"
            "print(choose_backend('h100', flow_directives('#!/bin/sh\\n#FLOW region=x\\n'), s),"
            " sorted(m for m in ('httpx', 'paramiko', 'yaml') if m in sys.modules))\n")
    env = {"PATH": os.environ.get("PATH", ""), "FLOWSLURM_CONFIG": str(tmp_path / "none.yaml"),
           "FLOWSLURM_BACKEND": "mithril", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["mithril", "[]"]
