"""Shared vocabulary of the emulator: the API's status names, error answers and small formatters.

Kept apart from routes.py and state.py so both can use it without importing each other.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

BID_STATUSES = ("Open", "Allocated", "Preempting", "Terminated", "Paused")
INSTANCE_STATUSES = ("STATUS_NEW", "STATUS_CONFIRMED", "STATUS_INITIALIZING", "STATUS_STARTING", "STATUS_RUNNING",
                     "STATUS_STOPPING", "STATUS_TERMINATED", "STATUS_RELOCATING", "STATUS_PREEMPTING",
                     "STATUS_PREEMPTED", "STATUS_REPLACED", "STATUS_PAUSED", "STATUS_ERROR")
BOOT_SEQUENCE = ("STATUS_NEW", "STATUS_CONFIRMED", "STATUS_INITIALIZING", "STATUS_STARTING", "STATUS_RUNNING")
MAX_LIMIT = 100
VOLUME_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DOLLARS = re.compile(r"^\$(\d{1,7})(?:\.(\d{1,2}))?$")
Json = dict[str, Any]


class ApiError(Exception):
    """An error answer: `detail` is a string, or FastAPI's list of {loc, msg, type}."""

    def __init__(self, status: int, detail: str | list[Json], headers: dict[str, str] | None = None) -> None:
        super().__init__(status, detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


def invalid(loc: list[str | int], msg: str, kind: str = "value_error") -> ApiError:
    return ApiError(422, [{"loc": loc, "msg": msg, "type": kind}])


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def dollars(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"


def public(record: Json) -> Json:
    """A record as the API shows it: internal `_` keys dropped."""
    return {k: v for k, v in record.items() if not k.startswith("_")}
