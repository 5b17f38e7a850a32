"""Errors a caller can cause, each with its HTTP status and a message a clerk understands."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code

    def envelope(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(AppError):
    status, code = 422, "invalid_input"


class NotAuthenticated(AppError):
    status, code = 401, "not_authenticated"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class PayloadTooLarge(AppError):
    status, code = 413, "payload_too_large"


class TooManyRequests(AppError):
    status, code = 429, "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class Unavailable(AppError):
    status, code = 503, "unavailable"


class DatabaseUnavailable(Unavailable):
    code = "database_unavailable"
    retry_after = 2


# SQLSTATE classes that mean "the server cannot be reached or is going away": 08 connection exceptions;
# 57P01-57P03 admin/crash shutdown and "cannot connect now" (starting up, shutting down, in recovery).
_UNREACHABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def database_unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The 503 to answer when `exc` means the database cannot be reached right now (connection refused,
    dropped or reset, server restarting, pool exhausted), else None. The failed unit of work rolled
    back, so the caller may retry (writes with their Idempotency-Key)."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection became free in time
        return _database_unavailable()
    if isinstance(exc, OSError) and _raised_in_database_layer(exc):
        # A new connection refused or reset: SQLAlchemy passes the driver's OSError through unwrapped.
        return _database_unavailable()
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    if exc.connection_invalidated:
        return _database_unavailable()
    seen: set[int] = set()
    cause: BaseException | None = exc.orig
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        sqlstate = str(getattr(cause, "sqlstate", "") or "")
        if isinstance(cause, (OSError, ConnectionError)) or sqlstate.startswith(_UNREACHABLE_SQLSTATES):
            return _database_unavailable()
        if type(cause).__name__ == "InterfaceError" and "connection is closed" in str(cause):
            return _database_unavailable()
        cause = cause.__cause__ or cause.__context__
    return None


def _raised_in_database_layer(exc: BaseException) -> bool:
    traceback = exc.__traceback__
    while traceback is not None:
        module = str(traceback.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(("sqlalchemy.", "asyncpg", "aiosqlite")):
            return True
        traceback = traceback.tb_next
    return False


def _database_unavailable() -> DatabaseUnavailable:
    return DatabaseUnavailable(
        "The database is unavailable for a moment; nothing was saved. Retry shortly "
        "(send the same Idempotency-Key again)."
    )


def field_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Pydantic errors as [{"field": "a.b", "message": ...}] for the error envelope."""
    out = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
        out.append({"field": loc or "(body)", "message": err.get("msg", "invalid")})
    return out
