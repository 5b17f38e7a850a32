"""Structured JSON logs carrying the request id, user and court; personal data masked."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from command_center.masking import mask_text

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_var: ContextVar[str | None] = ContextVar("user", default=None)
court_var: ContextVar[str | None] = ContextVar("court", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ID and account numbers in the message are masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_text(record.getMessage()),
        }
        for key, var in (("request_id", request_id_var), ("user", user_var), ("court", court_var)):
            value = var.get()
            if value:
                entry[key] = value
        extra = getattr(record, "data", None)
        if extra:
            entry["data"] = json.loads(mask_text(json.dumps(extra, ensure_ascii=False, default=str)))
        if record.exc_info:
            entry["exception"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def configure_logging(*, level: str = "INFO", json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_lines else TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "aiosqlite", "engineio.server", "socketio.server"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
