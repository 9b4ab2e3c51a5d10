"""Typed errors of the scoring server; each carries the HTTP status it maps to."""
from __future__ import annotations


class ScoringError(Exception):
    """A request the server answers with an error body; `status` is its HTTP status."""

    status = 500
    run_function_failed = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(ScoringError):
    """The request body or a parameter value cannot be used."""

    status = 400

    @classmethod
    def for_parameter(cls, name: str, reason: object) -> "BadInput":
        """The one wording for a run() parameter whose value is refused, and why."""
        return cls(f"Invalid value for parameter {name!r}: {reason}")


class Unauthorized(ScoringError):
    """No or a wrong bearer key."""

    status = 401


class NotFound(ScoringError):
    """No such swagger version."""

    status = 404


class PayloadTooLarge(ScoringError):
    """The body is over MAX_REQUEST_BYTES."""

    status = 413


class UnsupportedInput(ScoringError):
    """Wrong content type for a decorated run()."""

    status = 415


class HeaderTooLong(ScoringError):
    """A request-id header is over 100 characters."""

    status = 431


class RunFailed(ScoringError):
    """run() raised; the traceback is in the log under the request id."""

    run_function_failed = True

    def __init__(self) -> None:
        super().__init__("An unexpected error occurred in scoring script. Check the logs for more info.")


class RunTimeout(ScoringError):
    """run() took longer than SCORING_TIMEOUT_MS."""

    run_function_failed = True

    def __init__(self, timeout_ms: int) -> None:
        super().__init__(f"Scoring timeout after {timeout_ms} ms")


class InternalError(ScoringError):
    """The server could not finish the response (e.g. run() returned something not JSON-serialisable)."""

    def __init__(self) -> None:
        super().__init__("An unexpected internal error occurred. Check the logs for more info.")


class StartupError(Exception):
    """The entry script cannot be served: the server must not start."""
