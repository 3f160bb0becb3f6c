"""The API's door to the Mithril backend: the engine's own provider object, and error translation.

Everything cloud-side (placement, volumes, instances, SSH keys) goes through
`flowslurm.providers.base.remote("mithril")`, the object the engine itself uses, so the API and
`sbatch` agree on project, key, URL and catalog by construction. Errors leave as flow.errors.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.providers.mithril.provider import MithrilProvider

__all__ = ["CLOUD", "provider", "translated"]

CLOUD = "mithril"


class _Translated:
    """`with translated(): ...` re-raises any error as its flow.errors class."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        from flowslurm.api.errors import translate

        new = translate(exc)
        if new is exc:
            return False
        raise new from exc


def translated() -> _Translated:
    return _Translated()


class provider:  # noqa: N801 - used as a context manager: `with provider() as p:`
    """The Mithril provider, configured from the settings (config file < environment); closed on exit."""

    def __init__(self) -> None:
        self._p: MithrilProvider | None = None

    def __enter__(self) -> MithrilProvider:
        from flowslurm.providers import base

        with translated():
            self._p = base.remote(CLOUD)  # type: ignore[assignment]
        assert self._p is not None
        return self._p

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.close()


def require_key(p: MithrilProvider) -> None:
    """Fail early, with `flow init` as the fix, when no API key is configured."""
    from flowslurm.api.errors import AuthenticationError

    if not p.settings.api_key_value():
        raise AuthenticationError(
            "no Mithril API key is configured: cloud tasks need one",
            ["Run `flow init` to store your key (https://app.mithril.ai/account/apikeys)",
             "Or set MITHRIL_API_KEY", "Without an instance type, tasks run on this machine"])


def default_region(p: MithrilProvider) -> str:
    """The configured region, else the one with the most instance types on sale (then the most
    capacity): a volume made there can serve the most kinds of task, since a task using a volume
    is placed in the volume's region."""
    if p.settings.region:
        return p.settings.region
    from flowslurm.providers.mithril.catalog import load_catalog

    catalog = load_catalog(p.client)
    score: dict[str, tuple[int, int]] = {}
    for a in catalog.auctions:
        kinds, capacity = score.get(a.region, (0, 0))
        score[a.region] = (kinds + 1, capacity + a.capacity)
    if not score:
        from flowslurm.api.errors import ResourceUnavailableError

        raise ResourceUnavailableError("Mithril offers no region right now", ["Retry later"])
    return min(score, key=lambda r: (-score[r][0], -score[r][1], r))
