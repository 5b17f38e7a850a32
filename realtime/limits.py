"""Limits on what one client may send: a token bucket per client, and a size cap per event payload.

The engine.io layer refuses whole messages above `realtime_max_message_bytes` by closing the
connection; these limits answer ordinary excess with an error acknowledgement instead.
"""

from __future__ import annotations

import json
import time
from typing import Any


class TokenBucket:
    """`burst` events at once, refilled at `rate` per second; `take` says whether one may pass now."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        """Spends one token if there is one (True), else False; refills first."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def retry_after(self) -> float:
        """Seconds until the next token (0 when one is available)."""
        return max(0.0, (1.0 - self.tokens) / self.rate)


def payload_size(data: Any) -> int:
    """The size of `data` as compact JSON, in bytes (what the client sent, near enough)."""
    try:
        return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError):
        return 0  # binary attachments and other non-JSON data are refused by the schema check
