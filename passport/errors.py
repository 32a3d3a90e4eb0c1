"""Domain errors: raised by services, mapped to HTTP by `passport.web.errors` (one table)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of the errors services raise; ``code`` is a stable machine slug."""

    code = "error"
    title = "Error"
    #: Seconds after which trying again may work (sent as ``Retry-After``), if known.
    retry_after: int | None = None

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []

    def extra(self) -> dict[str, Any]:
        """Members added to the problem document (machine-readable details)."""
        return {}


class NotFound(DomainError):
    """The object does not exist, or the caller may not know it exists."""

    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    """The request conflicts with the current state."""

    code = "conflict"
    title = "Conflict"


class InvalidInput(DomainError):
    """Business validation failed."""

    code = "invalid_input"
    title = "Invalid input"


class Unavailable(DomainError):
    """A dependency (the database…) cannot serve the request now."""

    code = "unavailable"
    title = "Service unavailable"


class Busy(Unavailable):
    """Every slot for this kind of request is taken (503, with ``Retry-After``)."""

    code = "busy"
    title = "Busy"
    retry_after = 30


class Gone(DomainError):
    """The object existed but has ended for good (410)."""

    code = "gone"
    title = "Gone"


class CodeRequired(DomainError):
    """A code other than a bearer token is missing or wrong (401 with its challenge)."""

    code = "code_required"
    title = "Code required"
    challenge = 'Code realm="passport"'


class RateLimited(DomainError):
    """Too many attempts (429, with ``Retry-After``)."""

    code = "rate_limited"
    title = "Too many requests"
    retry_after: int

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TooManyPending(RateLimited):
    """As many of a client's requests wait as it may have (429, with ``Retry-After``)."""

    code = "too_many_pending"
    title = "Too many pending requests"
