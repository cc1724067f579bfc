"""Call records: one JSON line per finished call, written before anything else is torn down,
and the same record handed to the database writer (`bot.records.store.RecordStore`, which
writes it in its own thread: the call never waits for the database).

Personal data: caller numbers are masked; what the caller said is kept only when
`privacy.keep_transcripts` is true (otherwise intents, FAQ ids and outcomes only).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.call.events import CallerTextEvent, CallEvent, MendedCallerTextEvent, SummaryEvent, to_json

if TYPE_CHECKING:
    from bot.records.store import RecordStore

_DIGITS = re.compile(r"\d")


def mask_phone(number: str) -> str:
    """'0912345678' -> '091****678': enough to recognise a repeat caller, not to call them."""
    digits = _DIGITS.findall(number or "")
    if len(digits) < 7:
        return "*" * len(digits)
    return "".join(digits[:3]) + "*" * (len(digits) - 6) + "".join(digits[-3:])


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class CallRecorder:
    """Collects one call's events; `close()` appends the record to records_dir/<date>.jsonl and
    submits it to `store` (the database) when one is given."""

    def __init__(self, records_dir: Path, call_id: str, caller: str = "", keep_transcripts: bool = False,
                 store: RecordStore | None = None, transport: str = "") -> None:
        self.records_dir = records_dir
        self.call_id = call_id
        self.caller = mask_phone(caller) if caller else ""
        self.keep_transcripts = keep_transcripts
        self.store = store
        self.transport = transport
        self.started_at = _utc_now()
        self.events: list[dict[str, Any]] = []
        if store is not None:  # the call's open row: a gateway killed during the call still leaves a record
            store.opened(self)

    def add(self, event: CallEvent, t: float) -> None:
        """`event` at call time `t` (seconds); the caller's words only if transcripts are kept.
        A mended caller turn replaces the fragment's `caller_text`: the record shows one question."""
        if isinstance(event, MendedCallerTextEvent):
            last = next((i for i in range(len(self.events) - 1, -1, -1)
                         if self.events[i]["event"] == CallerTextEvent.name), None)
            if last is not None:
                del self.events[last]
        self.events.append(to_json(event, t, transcripts=self.keep_transcripts))

    def record(self, summary: SummaryEvent) -> dict[str, Any]:
        """The call's record: the JSON line's object and what the database stores."""
        return {"call_id": self.call_id, "caller": self.caller, "started_at": self.started_at,
                "ended_at": _utc_now(), "transport": self.transport, "transcripts": self.keep_transcripts,
                "summary": to_json(summary, transcripts=self.keep_transcripts), "events": self.events}

    def close(self, summary: SummaryEvent) -> Path:
        """Append the record to the JSON lines, then hand it to the database writer if any (which
        also takes the line if the disk is full: the call never sees the error).
        With a writer, the line is not synced here (an fsync took up to 12 ms, measured: too long
        for the event loop): it is in the kernel once `write` returns (a killed process loses
        nothing) and the writer thread syncs the file before it writes the database."""
        record = self.record(summary)
        path = self.records_dir / f"{dt.date.today().isoformat()}.jsonl"
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        written = False
        try:
            self.records_dir.mkdir(parents=True, exist_ok=True)
            # One write of one line with O_APPEND: concurrent calls never interleave records.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                n = os.write(fd, data)
                if n < len(data):  # a full disk took part of it: cut it off, never half a record
                    os.ftruncate(fd, os.lseek(fd, 0, os.SEEK_END) - n)
                    raise OSError(28, "No space left on device (short write)", str(path))
                written = True
                if self.store is None:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            if self.store is None:
                raise
            # With a writer (the gateway), a full disk is the writer's to handle: it keeps the
            # line in memory, appends it when there is room, and logs the outage once.
        finally:
            if self.store is not None:  # even if the file could not be written; queued, never blocks
                self.store.submit(record, fsync=path if written else None, line_to=None if written else path)
        return path
