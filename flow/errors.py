"""Flow's errors, each with `message` and `suggestions` (and `exit_code`, the `flow` CLI's status).

    from flow.errors import FlowError, ValidationError

    try:
        task = flow.run(config)
    except ValidationError as e:
        print(e.message, e.suggestions)

FlowError is flowslurm's base error, so it also catches what the engine and the cloud client
raise. The tree:

    FlowError
    ├── UsageError                   (exit 2)
    ├── ValidationError (ValueError) (exit 3)
    ├── ConfigurationError           (exit 3)
    ├── ResourceNotFoundError        (exit 4)
    │   ├── TaskNotFoundError
    │   └── VolumeNotFoundError
    ├── AuthenticationError          (exit 5)
    │   └── PermissionDeniedError
    ├── APIError                     (exit 6)
    │   └── NetworkError
    ├── TimeoutError (builtin TimeoutError too) (exit 6)
    ├── QuotaExceededError           (exit 7)
    ├── ResourceUnavailableError     (exit 7)
    ├── SubmissionError              (exit 1)
    └── TaskFailedError              (exit 8)
        └── RemoteExecutionError
"""

from __future__ import annotations

from flowslurm.api.errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    FlowError,
    NetworkError,
    PermissionDeniedError,
    QuotaExceededError,
    RemoteExecutionError,
    ResourceNotFoundError,
    ResourceUnavailableError,
    SubmissionError,
    TaskFailedError,
    TaskNotFoundError,
    TimeoutError,
    UsageError,
    ValidationError,
    VolumeNotFoundError,
)

__all__ = [
    "APIError", "AuthenticationError", "ConfigurationError", "FlowError", "NetworkError", "PermissionDeniedError",
    "QuotaExceededError", "RemoteExecutionError", "ResourceNotFoundError", "ResourceUnavailableError",
    "SubmissionError", "TaskFailedError", "TaskNotFoundError", "TimeoutError", "UsageError", "ValidationError",
    "VolumeNotFoundError",
]
