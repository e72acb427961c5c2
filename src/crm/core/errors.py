"""One error type for the domain, mapped to HTTP responses in one place (the API and the pages)."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    VALIDATION = "validation_error"
    CONFLICT = "conflict"
    GONE = "gone"
    RATE_LIMITED = "rate_limited"
    UNAUTHENTICATED = "unauthenticated"
    BAD_REQUEST = "bad_request"


class DomainError(Exception):
    """A failure a user can act on: a code, a message, and the bad fields with their reasons."""

    code: ErrorCode = ErrorCode.BAD_REQUEST
    status: int = 400

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFoundError(DomainError):
    code = ErrorCode.NOT_FOUND
    status = 404

    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(message)


class PermissionDeniedError(DomainError):
    code = ErrorCode.PERMISSION_DENIED
    status = 403


class ValidationFailedError(DomainError):
    code = ErrorCode.VALIDATION
    status = 422


class ConflictError(DomainError):
    code = ErrorCode.CONFLICT
    status = 409


class GoneError(DomainError):
    """What was asked for existed and was deleted on purpose (an expired file)."""

    code = ErrorCode.GONE
    status = 410
