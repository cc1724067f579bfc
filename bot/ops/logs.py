"""The gateway's log: one JSON object per line, carrying the id of the call it is about.

`bot run` calls `setup_logging(settings.log)`. Each live call sets `call_id_var` for its own task
(`LiveCall.run`); asyncio copies context into the tasks a call creates, so every line logged on a
call's behalf carries its id, and `journalctl -u branch7-gateway | grep <id>` (or a log shipper
reading the JSON) follows one call. Lines from worker threads carry no id (their context is not
the call's); the call's own lines around them do.

JSON form: {"ts": "2026-12-06T15:31:02.114Z", "level": "INFO", "logger": "bot.gateway.host",
"msg": "...", "call_id": "..."?, "exc": "traceback"?}. Phone numbers are masked by the code that
logs them (bot.call.records.mask_phone); the caller's words are never logged.
"""
from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from typing import IO, Any

call_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("call_id", default=None)

FORMATS = ("json", "text")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(call_tag)s: %(message)s"


class CallIdFilter(logging.Filter):
    """Stamps each record with the call id of the context it was logged in (or None)."""

    def filter(self, record: logging.LogRecord) -> bool:
        call_id = getattr(record, "call_id", None) or call_id_var.get()
        record.call_id = call_id
        record.call_tag = f" [{call_id}]" if call_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (a message with a newline stays one line: json escapes it)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        call_id = getattr(record, "call_id", None)
        if call_id:
            out["call_id"] = call_id
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def setup_logging(settings: Any, stream: IO[str] | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one to `stream` (default stderr: journald keeps it)
    in `settings.format` at `settings.level` (a `LogSettings`). A bad value is a clear error."""
    fmt = str(settings.format).lower()
    level = str(settings.level).upper()
    if fmt not in FORMATS:
        raise ValueError(f"log.format: '{settings.format}' is not one of {', '.join(FORMATS)}")
    if level not in LEVELS:
        raise ValueError(f"log.level: '{settings.level}' is not one of {', '.join(LEVELS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(CallIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that talk too much at INFO (every HTTP request, every SQL connection) stay at WARNING.
    for name in ("aiohttp.access", "sqlalchemy", "alembic"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return handler


__all__ = ["CallIdFilter", "JsonFormatter", "call_id_var", "setup_logging"]
