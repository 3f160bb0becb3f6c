"""Which exported variables are secrets, so they never travel in a startup script.

A bid's startup script is stored by Mithril and shown to anyone who can read the bid, so an
API key exported by the submitter must not be in it. `split_secrets` sorts a job's exported
environment by variable name: the public part goes into job.json (inside the startup script),
the secret part is uploaded over SSH as env.secret (mode 0600), which the instance's agent
merges back in. Sorting by name is deliberately generous: a false positive
(TOKENIZERS_PARALLELISM) costs nothing, since the job still gets the variable.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# Upper-cased names containing one of these are secret.
SECRET_PARTS = (
    "API_KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "PRIVATE_KEY",
    "ACCESS_KEY", "AUTH_KEY", "SESSION_KEY", "SIGNING_KEY", "ENCRYPTION_KEY", "CLIENT_KEY",
)
# Names that are secret whatever they look like.
SECRET_NAMES = frozenset({"MITHRIL_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "WANDB_API_KEY", "NGC_API_KEY",
                          "GH_TOKEN", "GITHUB_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "NETRC"})
# Vendor prefixes whose ...KEY... variables are secret (AWS_SECRET_ACCESS_KEY, AZURE_STORAGE_KEY).
KEY_PREFIXES = ("AWS_", "AZURE_", "GCP_", "GOOGLE_", "R2_", "S3_", "B2_", "DO_", "MINIO_")


def is_secret_name(name: str) -> bool:
    """Whether a variable of this name may hold a credential (case-insensitive)."""
    upper = name.upper()
    if upper in SECRET_NAMES or any(part in upper for part in SECRET_PARTS):
        return True
    return upper.startswith(KEY_PREFIXES) and "KEY" in upper[upper.index("_"):]


def split_secrets(environ: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(public, secret): the environment split by `is_secret_name`, each in the original order."""
    public: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, value in environ.items():
        (secret if is_secret_name(name) else public)[name] = value
    return public, secret
