"""One HTTP conversation with the Mithril API: bearer auth, timeouts, retries, errors.

Retry rules, and why:
- GET, HEAD, PUT, DELETE and OPTIONS are idempotent, so a 429, a 5xx or a lost connection is
  retried with exponential backoff and jitter (a 429's Retry-After, seconds or HTTP-date, wins).
- POST and PATCH are retried only when they carry an Idempotency-Key, so a retry can never create
  a second bid. Before such a retry after an ambiguous failure (the request may have reached the
  server), an optional `recover` hook may find what the first attempt created: the spec does not
  document the header, so a server that ignores it must not cost us a duplicate either.
- A Retry-After longer than `RetryPolicy.max_wait_s` is not slept through: the error says how long.

httpx is imported when a Session is made, not when this module is.
"""

from __future__ import annotations

import time

from flowslurm.providers.mithril import errors
from flowslurm.providers.mithril.models import Secret
from flowslurm.record import FrozenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    import httpx

DEFAULT_URL = "https://api.mithril.ai"  # openapi.json `servers`
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class RetryPolicy(FrozenRecord):
    """How hard to try: `attempts` in all; waits of base_s * 2**n, capped at cap_s, with jitter
    over the upper half; never a wait longer than max_wait_s (a longer Retry-After fails at once)."""

    __slots__ = ("attempts", "base_s", "cap_s", "max_wait_s")

    def __init__(self, attempts: int = 4, base_s: float = 0.5, cap_s: float = 8.0, max_wait_s: float = 60.0) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        init = object.__setattr__
        init(self, "attempts", attempts)
        init(self, "base_s", base_s)
        init(self, "cap_s", cap_s)
        init(self, "max_wait_s", max_wait_s)

    if TYPE_CHECKING:
        attempts: int
        base_s: float
        cap_s: float
        max_wait_s: float

    def backoff(self, retry: int, rand: float) -> float:
        """The wait before retry number `retry` (1-based), for a uniform `rand` in [0, 1)."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** (retry - 1))
        return ceiling / 2 + ceiling / 2 * rand


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _query(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Query parameters as the API reads them: None dropped, arrays comma-joined (`bid_fid_in=a,b`),
    booleans lower-case."""
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple, set, frozenset)):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = str(value)
    return out


def check_api_key(api_key: str) -> None:
    """Refuse a key that cannot be a bearer token, without ever quoting it."""
    if not api_key:
        raise errors.MissingCredentialsError("no Mithril API key: MITHRIL_API_KEY is not set and config.yaml has none")
    if not api_key.isascii() or not api_key.isprintable() or any(c.isspace() for c in api_key):
        raise errors.MissingCredentialsError(
            "the Mithril API key contains spaces or control characters (a stray newline or quote?)",
            ["Set MITHRIL_API_KEY to the key alone, e.g. export MITHRIL_API_KEY=fkey_...",
             "Or run `flow init` to store it again"])


def _check_transport_security(base_url: str) -> None:
    """Plain http only to this machine (an emulator): elsewhere the bearer key would cross the network in clear."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.scheme == "http" and host not in ("localhost", "::1") and not host.startswith("127."):
        raise errors.MithrilError(
            f"the Mithril API URL {base_url[:80]!r} uses plain http to another machine: the API key would travel "
            "unencrypted",
            ["Use an https:// URL in MITHRIL_API_URL (or unset it for the production API)",
             "Plain http is accepted for an emulator on localhost / 127.0.0.1 only"])


class Session:
    """Authenticated requests to one API base URL. Thread-safe as httpx.Client is."""

    def __init__(self, api_key: str, base_url: str = DEFAULT_URL, *, timeout_s: float = 30.0,
                 connect_timeout_s: float = 10.0, retry: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] | None = None,
                 rand: Callable[[], float] | None = None, user_agent: str | None = None) -> None:
        check_api_key(api_key)
        if not base_url.startswith(("http://", "https://")):
            raise errors.MithrilError(
                f"the Mithril API URL must start with http:// or https://, not {base_url[:80]!r}",
                ["Check MITHRIL_API_URL (or `mithril: api_url:` in config.yaml); unset it for the production API"])
        _check_transport_security(base_url)
        import httpx

        from flowslurm import __version__

        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._key = Secret(api_key)
        self._sleep = sleep or time.sleep
        if rand is None:
            import random

            rand = random.random
        self._rand = rand
        self._http = httpx.Client(
            base_url=self.base_url, transport=transport, follow_redirects=False,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            headers={"User-Agent": user_agent or f"flowslurm/{__version__}", "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"Session(base_url={self.base_url!r}, api_key=<hidden>)"

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, operation: str, params: Mapping[str, Any] | None = None,
                json: Any = None, idempotency_key: str | None = None,
                recover: Callable[[], Any] | None = None) -> Any:
        """The decoded JSON of a 2xx answer (None for an empty one); a MithrilError otherwise.

        `recover`, when given, runs before each retry that follows an ambiguous failure, and once
        more when the last attempt failed ambiguously; a result other than None ends the call with
        that result, so a caller that sees an error knows `recover` found nothing."""
        import httpx

        secret = self._key.reveal()
        retryable = method in IDEMPOTENT_METHODS or idempotency_key is not None
        attempts = self.retry.attempts if retryable else 1
        headers = {"Authorization": f"Bearer {secret}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        query = _query(params)
        ambiguous = False
        for attempt in range(1, attempts + 1):
            if ambiguous and recover is not None:
                found = recover()
                if found is not None:
                    return found
            last = attempt == attempts
            try:
                response = self._http.request(method, path, params=query, json=json, headers=headers)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol))
                if not last:
                    ambiguous = ambiguous or sent
                    self._sleep(self.retry.backoff(attempt, self._rand()))
                    continue
                if sent and recover is not None and (found := recover()) is not None:
                    return found
                raise self._transport_error(operation, exc, sent and method not in IDEMPOTENT_METHODS,
                                            idempotency_key, attempt) from None
            status = response.status_code
            if status == 429 and not last:
                wait = retry_after_s(response.headers.get("retry-after"))
                if wait is not None and wait > self.retry.max_wait_s:
                    raise errors.from_response(operation, status, response.content, response.headers, secret, attempt)
                self._sleep(self.retry.backoff(attempt, self._rand()) if wait is None else wait)
                continue
            if status >= 500 and not last:
                ambiguous = True
                self._sleep(self.retry.backoff(attempt, self._rand()))
                continue
            if status >= 500 and recover is not None and (found := recover()) is not None:
                return found
            return self._result(operation, response, secret, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _result(self, operation: str, response: httpx.Response, secret: str, attempts: int) -> Any:
        status = response.status_code
        if status >= 400:
            raise errors.from_response(operation, status, response.content, response.headers, secret, attempts)
        if status < 200 or status >= 300:
            raise errors.ProtocolError(
                f"could not {operation}: unexpected HTTP {status} from {self.base_url}",
                ["Check MITHRIL_API_URL points at the Mithril API itself (redirects are not followed)"],
                operation=operation, status=status)
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise errors.ProtocolError(
                f"could not {operation}: the answer from {self.base_url} is not JSON",
                ["Check MITHRIL_API_URL points at the Mithril API (a proxy or captive portal may be answering)"],
                operation=operation, status=status) from None

    def _transport_error(self, operation: str, exc: Exception, maybe_applied: bool, idempotency_key: str | None,
                         attempts: int) -> errors.MithrilError:
        """`maybe_applied`: a write reached the wire and no answer came back."""
        what = errors.redact(f"{type(exc).__name__}: {exc}", self._key.reveal())
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        if maybe_applied:
            first = ("Retrying with the same idempotency key cannot apply it twice" if idempotency_key else
                     "List the resources to see whether it was applied before trying again, to avoid a duplicate")
            return errors.OutcomeUnknownError(
                f"could not {operation}: the connection to {self.base_url} broke before the answer came{tried} "
                f"({what}); the request may or may not have been applied",
                [first, f"Check the network and MITHRIL_API_URL (now {self.base_url})"],
                operation=operation)
        return errors.UnreachableError(
            f"could not {operation}: no answer from {self.base_url}{tried} ({what})",
            [f"Check the network and MITHRIL_API_URL (now {self.base_url})",
             "Mithril may be down: retry in a few minutes"],
            operation=operation)
