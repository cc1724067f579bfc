"""Call records: one JSON line per finished call, written before anything else is torn down.

Personal data: caller numbers are masked; what the caller said is kept only when
`privacy.keep_transcripts` is true (otherwise intents, FAQ ids and outcomes only).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

from bot.call.events import CallEvent, SummaryEvent, to_json

_DIGITS = re.compile(r"\d")


def mask_phone(number: str) -> str:
    """'0912345678' -> '091****678': enough to recognise a repeat caller, not to call them."""
    digits = _DIGITS.findall(number or "")
    if len(digits) < 7:
        return "*" * len(digits)
    return "".join(digits[:3]) + "*" * (len(digits) - 6) + "".join(digits[-3:])


class CallRecorder:
    """Collects one call's events; `close()` appends the record to records_dir/<date>.jsonl."""

    def __init__(self, records_dir: Path, call_id: str, caller: str = "", keep_transcripts: bool = False) -> None:
        self.records_dir = records_dir
        self.call_id = call_id
        self.caller = mask_phone(caller) if caller else ""
        self.keep_transcripts = keep_transcripts
        self.events: list[dict[str, Any]] = []

    def add(self, event: CallEvent, t: float) -> None:
        """`event` at call time `t` (seconds); the caller's words only if transcripts are kept."""
        self.events.append(to_json(event, t, transcripts=self.keep_transcripts))

    def close(self, summary: SummaryEvent) -> Path:
        self.records_dir.mkdir(parents=True, exist_ok=True)
        path = self.records_dir / f"{dt.date.today().isoformat()}.jsonl"
        record = {"call_id": self.call_id, "caller": self.caller,
                  "summary": to_json(summary, transcripts=self.keep_transcripts), "events": self.events}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        # One write of one line with O_APPEND: concurrent calls never interleave records.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return path
