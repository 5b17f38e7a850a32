"""Running app nodes and signed-in accounts for the socket.io tests (the real-time suite's fixtures)."""

from __future__ import annotations

from tests.realtime.conftest import clients, commit_events, live_db, make_account, start_node  # noqa: F401
