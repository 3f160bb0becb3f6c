"""The API tests' fixtures (flow_env, cloud, cloud_env) for the CLI tests too."""

from tests.api.conftest import cloud, cloud_env, flow_env

__all__ = ["cloud", "cloud_env", "flow_env"]
