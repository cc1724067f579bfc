"""Records as the gateway makes them: through `CallRecorder` with the call's typed events."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from bot.call.events import AnswerEvent, BotSayEvent, CallerTextEvent, DtmfEvent, NluEvent, SummaryEvent, TransferEvent
from bot.call.records import CallRecorder

ROOT = Path(__file__).resolve().parents[2]


def record(tmp: Path, call_id: str, kind: str, caller: str = "0912345678", keep: bool = False,
           started: dt.datetime | None = None) -> dict:
    """One call's record. kind: answered | transferred:<branch>:<reason> | abandoned | unanswered."""
    r = CallRecorder(tmp, call_id, caller, keep_transcripts=keep, transport="sip")
    if started is not None:
        r.started_at = started.isoformat()
    r.add(BotSayEvent("Xin chào", 1200), 0.0)
    if kind == "answered":
        r.add(CallerTextEvent("hộ nghèo được hỗ trợ bao nhiêu"), 2.0)
        r.add(NluEvent("faq", 0.97), 2.1)
        r.add(AnswerEvent("hongheo_muc_ho_tro"), 2.1)
        summary = SummaryEvent("answered", turns=1, answers=["hongheo_muc_ho_tro"], duration_s=9.0, latency_ms=[640])
    elif kind.startswith("transferred"):
        _, branch, reason = kind.split(":")
        r.add(DtmfEvent(branch), 1.0)
        r.add(TransferEvent(int(branch), reason, ["tôi cần gặp người"]), 1.0)
        summary = SummaryEvent("transferred", branch=int(branch), reason=reason, duration_s=5.0)
    elif kind == "unanswered":
        r.add(CallerTextEvent("số của tôi là 0987 654 321, thời tiết mai thế nào"), 2.0)
        r.add(NluEvent("out_of_scope", 0.91), 2.1)
        r.add(BotSayEvent("Xin lỗi, tôi chưa có thông tin", 2000), 2.2)
        summary = SummaryEvent("hangup", turns=1, reason="bye", duration_s=8.0, latency_ms=[900])
    else:
        summary = SummaryEvent("abandoned", reason="caller_hung_up", duration_s=2.0)
    return r.record(summary)


def bot(db_url: str, *args: str) -> str:
    """`bot <args>` as the operator runs it, on the database at `db_url`; its standard output."""
    env = {**os.environ, "BOT_RECORDS_URL": db_url}
    done = subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def bot_report(db_url: str, *args: str) -> dict:
    return json.loads(bot(db_url, "report", "--json", *args))
