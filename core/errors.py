"""Error types that services raise; the web layer maps them to 4xx responses.

Messages are translatable (lazy) strings that say what is wrong and what to do.
"""
from __future__ import annotations


class YaofangError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": str(self.message)}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class MalformedRequest(YaofangError):
    status = 400
    code = "bad_request"


class InvalidInput(YaofangError):
    status = 422
    code = "invalid_input"


class NotFound(YaofangError):
    status = 404
    code = "not_found"


class AuthenticationRequired(YaofangError):
    status = 401
    code = "authentication_required"


class PermissionDenied(YaofangError):
    status = 403
    code = "forbidden"


class Conflict(YaofangError):
    status = 409
    code = "conflict"


class InsufficientStock(Conflict):
    code = "insufficient_stock"


class NotSellable(Conflict):
    code = "not_sellable"


class AccountLocked(YaofangError):
    status = 429
    code = "account_locked"
