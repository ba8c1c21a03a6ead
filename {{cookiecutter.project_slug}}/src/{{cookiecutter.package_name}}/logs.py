"""Logging: the service's own lines through structlog, every line through one handler.

`configure_logging` sets the process's logging once the settings are known (`create_app`
calls it). One handler on the root logger writes each line, the service's and uvicorn's
(errors and access) alike, as JSON or as readable text, with whatever is bound to the
request being served: its `request_id` (see `request_id.RequestId`).

Logging belongs to the process, not to an app: the last app built sets it.
"""

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Literal

import structlog

LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

# uvicorn's loggers hand their records to the root logger's handler instead of their own.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

# What every line gets, whether structlog or the standard library wrote it.
_SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


# A bearer token a client put in the URL (RFC 6750, 2.3): the service never reads it there,
# and an access line must not keep it.
_URL_TOKEN = re.compile(r"([?&]access_token=)[^&#\s]*", re.IGNORECASE)


class _UrlTokensHidden(logging.Filter):
    """uvicorn's access line with the value of any `access_token` in the URL replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the path in the record's arguments (client, method, path, version, status)."""
        args = record.args
        if isinstance(args, tuple) and len(args) > 2 and isinstance(args[2], str):  # noqa: PLR2004 - the path's place
            path = _URL_TOKEN.sub(r"\1[hidden]", args[2])
            if path != args[2]:
                record.args = (*args[:2], path, *args[3:])
        return True


class _ServiceHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure_logging` installs, told apart from any other (pytest's, say)."""


def formatter(*, as_json: bool, colors: bool = False) -> logging.Formatter:
    """How a line is written: one JSON object, or text for a person (colored on a terminal)."""
    if as_json:
        return JsonLines()
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.dev.ConsoleRenderer(colors=colors),
        ],
    )


class JsonLines(logging.Formatter):
    """One JSON object a line: structlog's event as its processors left it, or a standard
    library record (uvicorn's access line, say) with the same fields.

    Written by hand rather than through structlog's ProcessorFormatter, which copies every
    record and runs a chain of processors: this runs once per request for the access line.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object, its traceback (if any) as text."""
        if isinstance(record.msg, dict):  # from structlog: its processors made it whole
            event: dict[str, object] = record.msg
        else:
            event = {"event": record.getMessage(), **structlog.contextvars.get_contextvars()}
            event["level"] = record.levelname.lower()
            event["logger"] = record.name
            event["timestamp"] = _iso_utc(record.created)
            if record.exc_info:
                event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, default=repr)


def _iso_utc(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat().replace("+00:00", "Z")


def configure_logging(level: LogLevel = "INFO", log_format: LogFormat = "auto") -> None:
    """Send every log line to stderr in `log_format` ("auto": text on a terminal, else JSON)."""
    stream = sys.stderr
    terminal = stream.isatty()
    handler = _ServiceHandler(stream)
    as_json = log_format == "json" or (log_format == "auto" and not terminal)
    handler.setFormatter(formatter(as_json=as_json, colors=terminal))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _ServiceHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # A warning (a library's deprecation, say) becomes a line like any other, not raw stderr.
    logging.captureWarnings(True)
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(kept, _UrlTokensHidden) for kept in access.filters):
        access.addFilter(_UrlTokensHidden())
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED_PROCESSORS,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
