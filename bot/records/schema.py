"""The records' tables, one schema for SQLite and PostgreSQL. Changing it means a new Alembic
revision in `migrations/versions/` (the gateway applies it at start).

Times are stored as naive UTC (SQLite keeps no time zone; both databases then compare the same).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Call(Base):
    """One row per call."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)   # UTC
    ended_at: Mapped[dt.datetime] = mapped_column(DateTime)                 # UTC
    caller: Mapped[str] = mapped_column(String(32), default="")             # masked: 091****678
    transport: Mapped[str] = mapped_column(String(16), default="")          # sip | audiosocket | web | ...
    # answered | transferred | hangup | abandoned; in_progress (the call's "open" row, written when
    # it starts) | gateway_died (an open row whose process died: closed by the next sweep)
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    branch: Mapped[int | None] = mapped_column(Integer, nullable=True)      # transferred to 1-6
    reason: Mapped[str] = mapped_column(String(64), default="")             # why the call ended / was transferred
    turns: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[list[str]] = mapped_column(JSON, default=list)          # FAQ ids read out, in order
    danger: Mapped[str | None] = mapped_column(String(32), nullable=True)   # the kind of danger heard, if any
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[list[int]] = mapped_column(JSON, default=list)       # end of speech -> reply, per turn
    transcripts: Mapped[bool] = mapped_column(Boolean, default=False)       # the caller's words were kept
    transcripts_removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # The process that took the call, "host:pid:start" (bot/records/store.py `process_id`): a row
    # left in_progress by a process that is gone is closed as gateway_died.
    gateway: Mapped[str | None] = mapped_column(String(128), nullable=True)


class CallEventRow(Base):
    """A call's events in order (bot/call/events.py). `data`: the event's fields without the
    caller's words; `words`: those words (`CallEvent.words`), only when transcripts are kept,
    emptied by the retention."""

    __tablename__ = "call_events"
    __table_args__ = (UniqueConstraint("call_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    t: Mapped[float | None] = mapped_column(Float, nullable=True)          # seconds into the call
    kind: Mapped[str] = mapped_column(String(32))                          # the event's "event" name
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    words: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
