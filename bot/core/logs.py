"""Structured (JSON-lines) logging; never log raw bodies, tokens or secrets."""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

from bot.core.settings import Settings

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# PostgreSQL names the offending values in an error's DETAIL ("Key (member_id)=(M123) already
# exists", "Failing row contains (...)"); `hide_parameters` does not reach those, and they can
# be member ids, names or message text. Column names stay: they say what went wrong.
_KEY_VALUES = re.compile(r"(Key \([^)]*\))=\(.*?\)(?= already exists| is not present|\.|$)", re.M)
_FAILING_ROW = re.compile(r"(Failing row contains )\(.*\)", re.M)


def redact_database_values(text: str) -> str:
    """The text with the values PostgreSQL quotes in its error details replaced by `…`."""
    text = _KEY_VALUES.sub(r"\1=(…)", text)
    return _FAILING_ROW.sub(r"\1(…)", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the record's `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_database_values(record.getMessage()),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            data["exc"] = redact_database_values(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(settings: Settings) -> None:
    """Install the JSON formatter once per process."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(logging.WARNING if settings.env == "test" else logging.INFO)
