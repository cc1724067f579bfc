"""What the supervisors' page shows, read from the records database (synchronous SQLAlchemy: the
page runs these in a worker thread, never on the event loop that paces calls' audio).

The figures are `bot report`'s own (`build_report`), so page and report cannot disagree; the page
adds calls per local hour of the day. A call's context is its record and events as stored: the
caller's words are there only if `privacy.keep_transcripts` was on for that call (and the
retention has not removed them yet); phone numbers in them are masked again on the way out.
"""
from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from bot.call.handoff import mask_numbers
from bot.records.report import build_report, day_range
from bot.records.schema import Call, CallEventRow

OUTCOMES = ("answered", "transferred", "abandoned", "hangup", "gateway_died")


class Records:
    """The records database as the page reads it (one engine, made at the first request)."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.tz = settings.records.timezone
        self._engine: Engine | None = None

    def _db(self) -> Engine | None:
        """None while there is nothing to read (no SQLite file, or the gateway has not made the
        tables yet): the page then says so instead of creating anything."""
        from bot.records.store import make_engine

        r = self.settings.records
        if not r.url and not self.settings.path(r.sqlite_path).exists():
            return None
        if self._engine is None:
            url = r.url or f"sqlite:///{self.settings.path(r.sqlite_path)}"
            self._engine = make_engine(url)
        if not inspect(self._engine).has_table(Call.__tablename__):
            return None
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def figures(self, start: dt.date, end: dt.date) -> dict[str, Any] | None:
        """The report for local days [start, end] plus `per_hour` (24 counts, local hours)."""
        engine = self._db()
        if engine is None:
            return None
        lo, hi = day_range(start, end, self.tz)
        report = build_report(engine, lo, hi, tz=self.tz)
        zone = ZoneInfo(self.tz)
        hours = [0] * 24
        with Session(engine) as s:
            for (started,) in s.execute(select(Call.started_at).where(Call.started_at >= lo, Call.started_at < hi)):
                hours[started.replace(tzinfo=dt.timezone.utc).astimezone(zone).hour] += 1
        report["per_hour"] = hours
        return report

    def call(self, call_id: str) -> dict[str, Any] | None:
        """One call's record and events, or None if there is no such call."""
        engine = self._db()
        if engine is None:
            return None
        with Session(engine) as s:
            row = s.get(Call, call_id)
            if row is None:
                return None
            events = s.execute(select(CallEventRow).where(CallEventRow.call_id == call_id)
                               .order_by(CallEventRow.seq)).scalars().all()
            zone = ZoneInfo(self.tz)
            return {
                "id": row.id, "caller": row.caller, "transport": row.transport, "outcome": row.outcome,
                "branch": row.branch, "reason": row.reason, "turns": row.turns, "answers": list(row.answers or []),
                "danger": row.danger, "duration_s": row.duration_s, "latency_ms": list(row.latency_ms or []),
                "started": row.started_at.replace(tzinfo=dt.timezone.utc).astimezone(zone),
                "transcripts": row.transcripts, "transcripts_removed_at": row.transcripts_removed_at,
                "events": [{"t": e.t, "kind": e.kind, "data": e.data or {},
                            "words": {k: _masked(v) for k, v in (e.words or {}).items()}} for e in events],
            }


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_numbers(value)
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


__all__ = ["OUTCOMES", "Records"]
