"""The one failure of the feed: an HTTP status, a stable code and a readable message.

Answered as the OData JSON error body {"error": {"code": ..., "message": ...}}.
"""

from __future__ import annotations


class ODataError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str, code: str = "BadRequest") -> ODataError:
    return ODataError(400, code, message)


def not_found(message: str) -> ODataError:
    return ODataError(404, "NotFound", message)
