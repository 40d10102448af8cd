"""Fakes for the scheduler tests: a settable clock, a recording log, an idempotent session
runner backed by an in-memory "store"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")


def et(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=NEW_YORK)


@dataclass
class FakeClock:
    current: datetime

    def now(self) -> datetime:
        return self.current


@dataclass
class RecordingLog:
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def _add(self, level: str, event: str, fields: dict[str, Any]) -> None:
        self.events.append((level, event, fields))

    def info(self, event: str, **fields: Any) -> None:
        self._add("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._add("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._add("error", event, fields)

    def critical(self, event: str, **fields: Any) -> None:
        self._add("critical", event, fields)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [fields for _, name, fields in self.events if name == event]


@dataclass(frozen=True)
class Outcome:
    status: str
    message: str = ""


@dataclass
class FakeRunner:
    """Runs sessions into an in-memory store; like run_once, a second run of a completed
    session does nothing. ``script`` overrides the outcome of given sessions."""

    completed: list[date] = field(default_factory=list)
    calls: list[date] = field(default_factory=list)
    script: dict[date, Callable[[], Outcome]] = field(default_factory=dict)

    def __call__(self, session: date) -> Outcome:
        self.calls.append(session)
        if session in self.script:
            return self.script[session]()
        if session in self.completed:
            return Outcome("already_done")
        self.completed.append(session)
        return Outcome("completed", f"ran {session}")

    def last_completed(self) -> date | None:
        return max(self.completed, default=None)
