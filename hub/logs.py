"""Logging as the command line configures it: text for people, JSON lines for collectors.

    configure("info", "json", worker=True)     # once per process: the CLI, or a pooled worker

A JSON line carries the time, level, logger, message, the process id, the ids a
record was logged with (``log.warning("...", extra={"kind": "rpc", "client": c})``)
and the traceback of an exception. Library code only logs; nothing but the command
line and the worker's main configures logging.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from typing import Any, Literal

#: The attributes every LogRecord has: anything else was passed in ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str, fmt: Literal["text", "json"] = "text", *, worker: bool = False) -> None:
    """Configure the root logger of this process (the CLI's, or a pooled worker's)."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        tag = f"[worker {os.getpid()}]" if worker else ""
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s %(name)s{tag}: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
