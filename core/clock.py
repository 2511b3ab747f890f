"""The clock: every "now" and "today" in Yaofang comes from here, so tests can inject time.

Timestamps are timezone-aware UTC; "today" is judged in a store's own time zone.
"""
from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that stands still until moved; for tests and replays."""

    def __init__(self, at: datetime):
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.at = at.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self.at

    def advance(self, **kwargs) -> None:
        self.at += timedelta(**kwargs)


_clock: SystemClock | FixedClock = SystemClock()


def now() -> datetime:
    return _clock.now()


def today(tz: str) -> date:
    """The calendar date now in the given IANA time zone (e.g. a store's Asia/Shanghai)."""
    return _clock.now().astimezone(ZoneInfo(tz)).date()


def set_clock(clock) -> None:
    global _clock
    _clock = clock


@contextlib.contextmanager
def use(clock):
    previous = _clock
    set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)
