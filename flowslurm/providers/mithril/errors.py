"""What can go wrong talking to Mithril, as FlowErrors a user can act on.

Every failed call becomes one of these classes, chosen from the HTTP status and, because the spec
documents no error codes beyond FastAPI's 422 shape, from the words of `{"detail": ...}`. Each
message names the operation that failed; each carries suggestions. No text that reaches a message
may contain the API key: everything quoted from a server or a library goes through `redact`.
"""

from __future__ import annotations

from flowslurm.errors import FlowError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


class MithrilError(FlowError):
    """A Mithril API call failed. `operation` is what we tried ("create spot bid 'job-7'"),
    `status` the HTTP status (None when no response came back), `detail` the server's own words,
    `request_id` what Mithril support can trace."""

    default_suggestions: tuple[str, ...] = ()

    def __init__(self, message: str, suggestions: list[str] | None = None, *, operation: str = "",
                 status: int | None = None, detail: str = "", request_id: str | None = None) -> None:
        super().__init__(message, suggestions if suggestions is not None else list(self.default_suggestions))
        self.operation = operation
        self.status = status
        self.detail = detail
        self.request_id = request_id


class MissingCredentialsError(MithrilError):
    """No usable API key: nothing was sent."""

    default_suggestions = (
        "Set MITHRIL_API_KEY to a key from the Mithril console (it starts with fkey_)",
        "Or run `flow init` to store it under `mithril: api_key:` in config.yaml (mode 0600)",
    )


class AuthenticationError(MithrilError):
    """401: the key is wrong, expired or revoked."""

    default_suggestions = (
        "Check MITHRIL_API_KEY, or run `flow init` to store a key in config.yaml: it must be a current key, fkey_...",
        "An expired or revoked key must be replaced: create one in the Mithril console",
    )


class PermissionDeniedError(MithrilError):
    """403: the key is valid but may not do this."""

    default_suggestions = (
        "Check that the key's user is a member of the project used (`mithril: project:` in config.yaml)",
        "Check MITHRIL_API_KEY / `flow init`: the key may belong to another organization",
    )


class NotFoundError(MithrilError):
    """404: the id or path names nothing."""

    default_suggestions = ("Check the id; the resource may have been deleted or belong to another project",)


class InvalidRequestError(MithrilError):
    """400 or 422 that no more specific class explains."""

    default_suggestions: tuple[str, ...] = ("The API refused the request as sent: likely a flowslurm bug or an API change; "
                           "please report it with the detail above",)


class PriceBelowMinimumError(InvalidRequestError):
    """The limit price is under the market's minimum for this instance type and region."""

    default_suggestions = (
        "Raise the job's price cap to at least the current minimum for this instance type and region",
        "Or choose another instance type or region, where the minimum is lower",
    )


class NameInUseError(MithrilError):
    """Another live resource in the project already has this name."""

    default_suggestions = ("Choose another name, or cancel/delete the live resource that holds it",)


class QuotaExceededError(MithrilError):
    """The project's quota does not allow this many instances, GPUs or bytes."""

    default_suggestions = (
        "Ask for fewer instances or GPUs, or cancel running bids of the project",
        "Or ask Mithril support to raise the project's quota",
    )


class NoCapacityError(MithrilError):
    """The market cannot supply what was asked."""

    default_suggestions = (
        "Try another region or instance type, or fewer instances",
        "`sbatch --test-only` shows what is available now",
    )


class ConflictError(MithrilError):
    """409: the resource is in a state that forbids this now."""

    default_suggestions = ("The resource is busy or in a conflicting state; retry once it has settled",)


class BillingError(MithrilError):
    """402: payment is required."""

    default_suggestions = ("Check the organization's billing and payment method in the Mithril console",)


class RateLimitedError(MithrilError):
    """429 that retrying did not get past (or that asked for a longer wait than allowed)."""

    default_suggestions = (
        "Mithril is rate-limiting this key: wait a minute and retry",
        "Many flowslurm commands at once share one limit; fewer parallel commands help",
    )


class ServiceError(MithrilError):
    """5xx after every retry allowed."""

    default_suggestions = (
        "Mithril's API is failing: retry in a few minutes",
        "If it persists, give Mithril support the request id above",
    )


class UnreachableError(MithrilError):
    """No HTTP response: connection refused, reset or timed out, after every retry allowed."""


class OutcomeUnknownError(UnreachableError):
    """A request that must not be repeated was sent, and its answer was lost: it may have been applied."""


class ProtocolError(MithrilError):
    """A response this client cannot read: not JSON, a missing field, a redirect, a looping cursor."""


_SIMPLE: dict[int, type[MithrilError]] = {401: AuthenticationError, 402: BillingError, 429: RateLimitedError}
_BY_STATUS: dict[int, type[MithrilError]] = {403: PermissionDeniedError, 404: NotFoundError, 409: ConflictError}
_REASONS: dict[type[MithrilError], str] = {
    AuthenticationError: "Mithril rejected the API key",
    BillingError: "Mithril requires payment",
    RateLimitedError: "Mithril is rate-limiting requests",
    ServiceError: "Mithril's API failed",
    PermissionDeniedError: "the API key may not do this",
    NotFoundError: "not found",
    ConflictError: "conflicts with the resource's current state",
    PriceBelowMinimumError: "the limit price is below the minimum",
    NameInUseError: "the name is already in use",
    QuotaExceededError: "the quota is exceeded",
    NoCapacityError: "there is not enough capacity",
    InvalidRequestError: "the API refused the request",
}


def classify(status: int, detail: str) -> type[MithrilError]:
    """The class for an HTTP error status. The detail's words refine 4xx, because the spec gives
    no machine-readable code for quota, price, name or capacity refusals."""
    if status in _SIMPLE:
        return _SIMPLE[status]
    if status >= 500:
        return ServiceError
    words = detail.lower()
    if "quota" in words:
        return QuotaExceededError
    if "price" in words and any(w in words for w in ("minimum", "below", "too low")):
        return PriceBelowMinimumError
    if "name" in words and any(w in words for w in ("already", "in use", "exists", "duplicate", "taken")):
        return NameInUseError
    if "capacity" in words or "no available" in words or "sold out" in words:
        return NoCapacityError
    return _BY_STATUS.get(status, InvalidRequestError)


def detail_of(body: bytes) -> str:
    """The server's explanation: `detail` as a string, or FastAPI's 422 list as `field: msg; ...`."""
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:300]
    if isinstance(data, dict):
        for field in ("detail", "message", "error"):
            if field in data:
                return _detail_text(data[field])
    return json.dumps(data)[:300]


def _detail_text(detail: object) -> str:
    import json

    if isinstance(detail, str):
        return detail[:500]
    if isinstance(detail, list):
        parts = []
        for item in detail[:10]:
            if isinstance(item, dict) and "msg" in item:
                loc = [str(p) for p in item.get("loc") or [] if p != "body"]
                parts.append(f"{'.'.join(loc)}: {item['msg']}" if loc else str(item["msg"]))
            else:
                parts.append(json.dumps(item))
        return "; ".join(parts)[:500]
    return json.dumps(detail)[:500]


def redact(text: str, secret: str | None) -> str:
    """`text` with the key, and anything shaped like a Mithril key, masked."""
    import re

    if secret:
        text = text.replace(secret, "***")
    return re.sub(r"fkey_[A-Za-z0-9_\-]+", "fkey_***", text)


def from_response(operation: str, status: int, body: bytes, headers: Mapping[str, str], secret: str | None,
                  attempts: int = 1) -> MithrilError:
    """The error for an HTTP error response to `operation`."""
    detail = redact(detail_of(body), secret)
    cls = classify(status, detail)
    request_id = headers.get("x-request-id") or headers.get("x-correlation-id")
    message = f"could not {operation}: {_REASONS.get(cls, 'the API refused the request')} (HTTP {status}"
    message += f": {detail})" if detail else ")"
    if attempts > 1:
        message += f" after {attempts} attempts"
    if request_id:
        message += f" [request id {redact(request_id, secret)}]"
    error = cls(message, operation=operation, status=status, detail=detail, request_id=request_id)
    if cls is RateLimitedError and headers.get("retry-after"):
        error.suggestions.insert(0, f"Mithril asked to wait {headers['retry-after']} s before retrying")
    return error
