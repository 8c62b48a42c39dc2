"""Structured (JSON) logs that carry the current trace id."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from incidents_common.tracing import current_trace_id

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        trace_id = current_trace_id()
        if trace_id:
            entry["trace_id"] = trace_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_") and key != "color_message":  # uvicorn's ANSI copy
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        trace_id = current_trace_id()
        prefix = f"[{trace_id[:8]}] " if trace_id else ""
        return f"{record.levelname:<7} {record.name}: {prefix}{record.getMessage()}"


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic in typeshed only
    """Writes to whatever sys.stderr is at emit time (pytest swaps and closes captured streams)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def setup_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    handler = _CurrentStderrHandler()
    handler.setFormatter(JsonFormatter(service) if json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn gives its own loggers plain-text handlers before it calls the app factory: hand them
    # to the root's, so that "Started server process" and "Invalid HTTP request" are JSON lines too.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        server_logger = logging.getLogger(name)
        server_logger.handlers[:] = []
        server_logger.propagate = True
    # httpx logs request URLs at INFO, and Telegram Bot API URLs carry the bot token.
    for noisy in ("uvicorn.access", "nats", "aiosqlite", "sqlalchemy.engine", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
