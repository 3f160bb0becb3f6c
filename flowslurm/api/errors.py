"""The Flow API's exception tree, and the one boundary where other errors are translated into it.

Every class derives from `flowslurm.errors.FlowError`, so `except FlowError` catches what the
engine, the SLURM layer and the Mithril client raise as well. Each error has `message` (one
sentence a user can read) and `suggestions` (what to try), and `exit_code`: the status the `flow`
CLI exits with, so scripts can tell a typo from an outage:

    0 ok                 3 validation (bad config)   6 transient (network, 5xx, rate limit, timeout)
    1 other error        4 not found                 7 quota or capacity
    2 usage (bad flags)  5 authentication/permission 8 the task failed (flow run --watch)
                                                     130 interrupted

Foreign errors (Mithril's, the engine's, pydantic's) become these in `translate`, keeping the
original as `__cause__`; nothing else in the API needs to know the others exist.
"""

from __future__ import annotations

import builtins

from flowslurm.errors import FlowError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "APIError", "AuthenticationError", "ConfigurationError", "FlowError", "NetworkError", "PermissionDeniedError",
    "QuotaExceededError", "RemoteExecutionError", "ResourceNotFoundError", "ResourceUnavailableError",
    "SubmissionError", "TaskFailedError", "TaskNotFoundError", "TimeoutError", "UsageError", "ValidationError",
    "VolumeNotFoundError", "exit_code_of", "translate",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_VALIDATION = 3
EXIT_NOT_FOUND = 4
EXIT_AUTH = 5
EXIT_TRANSIENT = 6
EXIT_QUOTA = 7
EXIT_TASK_FAILED = 8
EXIT_INTERRUPTED = 130

class UsageError(FlowError):
    """The command line itself is wrong: an unknown flag, a missing argument."""

    exit_code = EXIT_USAGE


class ValidationError(FlowError, ValueError):
    """A task description (TaskConfig, YAML file, flags) has a bad or unknown value. `errors` lists
    each problem as {"loc": "volumes.0.size_gb", "line": 7 or None, "message": ...}."""

    exit_code = EXIT_VALIDATION

    def __init__(self, message: str, suggestions: list[str] | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, suggestions)
        self.errors = list(errors or [])


class ConfigurationError(FlowError):
    """flowslurm is not set up for what was asked (no Mithril key yet, a bad config file)."""

    exit_code = EXIT_VALIDATION


class ResourceNotFoundError(FlowError):
    """No task, volume or project by that id or name."""

    exit_code = EXIT_NOT_FOUND


class TaskNotFoundError(ResourceNotFoundError):
    """No task by that id or name."""


class VolumeNotFoundError(ResourceNotFoundError):
    """No volume by that id, name or index."""


class AuthenticationError(FlowError):
    """The API key is missing, wrong, expired or revoked."""

    exit_code = EXIT_AUTH


class PermissionDeniedError(AuthenticationError):
    """The key is valid but may not do this (another project or organization)."""


class QuotaExceededError(FlowError):
    """The project's quota does not allow this many instances, GPUs or bytes."""

    exit_code = EXIT_QUOTA


class ResourceUnavailableError(FlowError):
    """Nothing offered fits the request (instance type, region, capacity)."""

    exit_code = EXIT_QUOTA


class SubmissionError(FlowError):
    """The engine refused the task (SLURM's reason is in the message)."""

    exit_code = EXIT_ERROR


class APIError(FlowError):
    """The cloud API failed in a way retrying later may fix (5xx, rate limit)."""

    exit_code = EXIT_TRANSIENT


class NetworkError(APIError):
    """No answer from the cloud API or the instance (refused, reset, timed out)."""


class TimeoutError(FlowError, builtins.TimeoutError):  # noqa: A001 - the seed's name
    """A wait ran out of time (the task itself keeps running). Also a builtin TimeoutError."""

    exit_code = EXIT_TRANSIENT


class TaskFailedError(FlowError):
    """A task that was waited for ended without success (FAILED, CANCELLED, TIMEOUT, ...)."""

    exit_code = EXIT_TASK_FAILED


class RemoteExecutionError(TaskFailedError):
    """A `@function(...).remote()` or `invoke()` call raised on the remote side. `remote_type` is
    the exception's class name there, `remote_traceback` its traceback text."""

    def __init__(self, message: str, suggestions: list[str] | None = None, remote_type: str = "",
                 remote_traceback: str = "") -> None:
        super().__init__(message, suggestions)
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback


def exit_code_of(exc: BaseException) -> int:
    """The CLI's exit status for an error (1 for anything unclassified)."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    code = getattr(exc, "exit_code", None)
    if isinstance(code, int) and isinstance(exc, FlowError) and type(exc).__module__ == __name__:
        return code
    translated = translate(exc)
    return int(getattr(translated, "exit_code", EXIT_ERROR))


def _mithril(exc: FlowError) -> FlowError | None:
    """The class for a Mithril client error (None when it is not one)."""
    module = type(exc).__module__
    if module != "flowslurm.providers.mithril.errors":
        return None
    from flowslurm.providers.mithril import errors as m

    table: list[tuple[type, type[FlowError]]] = [
        (m.MissingCredentialsError, AuthenticationError), (m.AuthenticationError, AuthenticationError),
        (m.PermissionDeniedError, PermissionDeniedError), (m.NotFoundError, ResourceNotFoundError),
        (m.QuotaExceededError, QuotaExceededError), (m.NoCapacityError, ResourceUnavailableError),
        (m.PriceBelowMinimumError, ValidationError), (m.NameInUseError, ValidationError),
        (m.InvalidRequestError, ValidationError), (m.RateLimitedError, APIError), (m.ServiceError, APIError),
        (m.UnreachableError, NetworkError), (m.BillingError, AuthenticationError),
    ]
    for source, target in table:
        if isinstance(exc, source):
            return target(exc.message, list(exc.suggestions))
    return APIError(exc.message, list(exc.suggestions))


def translate(exc: BaseException) -> BaseException:
    """The Flow error for `exc` (itself when it already is one of ours or is not an error we know).
    The caller raises the result `from exc`."""
    if isinstance(exc, FlowError) and type(exc).__module__ == __name__:
        return exc
    if isinstance(exc, FlowError):
        found = _mithril(exc)
        if found is not None:
            return found
        module = type(exc).__module__
        name = type(exc).__name__
        if name == "PlacementError":
            return ResourceUnavailableError(exc.message, list(exc.suggestions))
        if name == "SettingsError":
            return ConfigurationError(exc.message, list(exc.suggestions))
        if name in ("RemoteUnreachable", "RemoteTimeout", "ConnectionLost"):
            return NetworkError(exc.message, list(exc.suggestions))
        if name in ("RemoteAuthError", "HostKeyChanged"):
            return AuthenticationError(exc.message, list(exc.suggestions))
        if name == "SubmitError":  # the engine refused the job (SLURM's reason in the message)
            return SubmissionError(exc.message, list(exc.suggestions))
        if name in ("SlurmInputError", "SlurmValueError") or module.startswith("flowslurm.slurm"):
            return ValidationError(exc.message, list(exc.suggestions))  # a value SLURM's parsers refuse
        return exc
    if type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic"):
        from flowslurm.api.config import validation_error

        return validation_error(exc)
    return exc
