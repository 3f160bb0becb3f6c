"""One exception tree for flowslurm. Foreign errors are translated into these at one boundary."""

from __future__ import annotations


class FlowError(Exception):
    """Base of every flowslurm error; `message` is what a user reads, `suggestions` what to try."""

    def __init__(self, message: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.suggestions = suggestions or []


class SlurmInputError(FlowError):
    """Bad user input to a SLURM command: `message` is SLURM's wording, `exit_code` SLURM's status.
    Each line is printed as "<prog>: <label>: <line>" unless it already names the program."""

    label = "error"

    def __init__(self, message: str, exit_code: int = 255, label: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        if label is not None:
            self.label = label  # "error", "fatal", or "bare" (printed as is)


class SubmitError(SlurmInputError):
    """The controller refused a job ("Batch job submission failed: ..."): exit status 1."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message, exit_code)


class LedgerError(FlowError):
    """The job ledger could not be read or written."""
