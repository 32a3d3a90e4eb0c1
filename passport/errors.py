"""Domain errors: raised by services, mapped to HTTP by `passport.web.errors` (one table)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of the errors services raise; ``code`` is a stable machine slug."""

    code = "error"
    title = "Error"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


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
