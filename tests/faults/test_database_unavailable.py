"""Which database errors become a 503 `database_unavailable` (command_center.errors.database_unavailable)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from command_center.errors import DatabaseUnavailable, database_unavailable


class _DriverError(Exception):
    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _wrapped(orig: BaseException, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("INSERT ...", {}, orig, connection_invalidated=invalidated)


def test_a_dropped_or_refused_connection_is_a_503_the_client_may_retry():
    for error in (
        _wrapped(_DriverError("x"), invalidated=True),
        _wrapped(ConnectionResetError(104, "Connection reset by peer")),
        _wrapped(_DriverError("the database system is shutting down", sqlstate="57P03")),
        _wrapped(_DriverError("terminating connection due to administrator command", sqlstate="57P01")),
        _wrapped(_DriverError("connection does not exist", sqlstate="08003")),
        sa_exc.TimeoutError("QueuePool limit reached"),
    ):
        answer = database_unavailable(error)
        assert isinstance(answer, DatabaseUnavailable), error
        assert (answer.status, answer.envelope()["error"]["code"]) == (503, "database_unavailable")


def test_an_oserror_from_inside_the_database_layer_is_a_503_but_not_one_from_elsewhere():
    engine = sa.create_engine("sqlite:////nonexistent-directory/for/this/test.db")
    try:
        engine.connect()
    except sa_exc.OperationalError as error:
        assert database_unavailable(error) is None  # a file that cannot be opened is not an outage
    assert database_unavailable(ConnectionRefusedError(111, "refused")) is None  # not raised by a driver


def test_errors_a_retry_cannot_fix_stay_500s():
    assert database_unavailable(_wrapped(_DriverError("duplicate key", sqlstate="23505"))) is None
    assert database_unavailable(sa_exc.IntegrityError("INSERT", {}, _DriverError("x", "23505"))) is None
    assert database_unavailable(ValueError("not a database error")) is None
