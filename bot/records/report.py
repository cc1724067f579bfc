"""The figures the city reports, from the `calls` table (and, where transcripts are kept, the
questions the bot could not answer from `call_events`). `bot report` prints them."""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bot.call.handoff import mask_numbers
from bot.policy.reasons import counted_as
from bot.records.schema import Call, CallEventRow

BRANCHES = [str(b) for b in range(1, 7)]
NOT_UNDERSTOOD = {None, "nlu_fallback", "out_of_scope"}

def day_range(start: dt.date | None, end: dt.date | None, tz: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Local days [start, end] (both inclusive) -> naive UTC bounds [lo, hi)."""
    zone = ZoneInfo(tz)

    def utc(d: dt.date) -> dt.datetime:
        return dt.datetime.combine(d, dt.time(), zone).astimezone(dt.timezone.utc).replace(tzinfo=None)

    return (utc(start) if start else None, utc(end + dt.timedelta(days=1)) if end else None)


def percentile(values: list[int], p: float) -> int | None:
    """Nearest-rank percentile (a value that was measured)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def build_report(engine: Engine, lo: dt.datetime | None = None, hi: dt.datetime | None = None,
                 top: int = 10, max_questions: int = 200, tz: str = "Asia/Ho_Chi_Minh") -> dict[str, Any]:
    """Calls that started in [lo, hi) (naive UTC; None: unbounded); `days` are local days in `tz`."""
    where = []
    if lo is not None:
        where.append(Call.started_at >= lo)
    if hi is not None:
        where.append(Call.started_at < hi)
    with Session(engine) as s:
        outcomes = dict(s.execute(select(Call.outcome, func.count()).where(*where).group_by(Call.outcome)).all())
        transfers = s.execute(select(Call.branch, Call.reason, func.count()).where(Call.outcome == "transferred", *where)
                              .group_by(Call.branch, Call.reason)).all()
        faq_counts: Counter[str] = Counter()
        latencies: list[int] = []
        with_transcripts = 0
        for answers, latency, transcripts in s.execute(select(Call.answers, Call.latency_ms, Call.transcripts).where(*where)):
            faq_counts.update(answers or [])
            latencies.extend(int(x) for x in latency or [])
            with_transcripts += bool(transcripts)
        questions = _unanswered(s, where, max_questions) if with_transcripts else []
        days = _per_day(s.execute(select(Call.started_at, Call.outcome, Call.branch).where(*where)).all(), tz)

    by_branch = {b: 0 for b in BRANCHES}
    by_reason: Counter[str] = Counter()
    by_branch_reason: Counter[tuple[int, str]] = Counter()
    for branch, reason, n in transfers:
        by_branch[str(branch)] = by_branch.get(str(branch), 0) + n
        by_reason[counted_as(reason)] += n
        by_branch_reason[(branch or 0, counted_as(reason))] += n
    return {
        "calls": sum(outcomes.values()),
        "answered": outcomes.get("answered", 0),
        "transferred": by_branch,
        "transferred_total": outcomes.get("transferred", 0),
        "transferred_by_reason": dict(by_reason.most_common()),
        "transfers": [{"branch": b, "reason": r, "calls": n} for (b, r), n in sorted(by_branch_reason.items())],
        "abandoned": outcomes.get("abandoned", 0),       # the caller hung up before an answer or transfer
        "ended_by_bot": outcomes.get("hangup", 0),       # no answer; the bot said goodbye (no input, ...)
        "gateway_died": outcomes.get("gateway_died", 0),  # ended badly: the process answering it died
        "in_progress": outcomes.get("in_progress", 0),    # open rows of live gateways (calls going on now)
        "outcomes": dict(sorted(outcomes.items())),
        "top_questions": [{"faq_id": f, "answers": n} for f, n in faq_counts.most_common(top)],
        "latency_ms": {"turns": len(latencies), "p50": percentile(latencies, 50), "p95": percentile(latencies, 95)},
        "calls_with_transcripts": with_transcripts,
        "unanswered": questions,
        "days": days,
    }


def _per_day(rows: list[Any], tz: str) -> list[dict[str, Any]]:
    """Calls received / answered / transferred per branch / abandoned, per local day."""
    zone = ZoneInfo(tz)
    days: dict[str, dict[str, Any]] = {}
    for started, outcome, branch in rows:
        day = started.replace(tzinfo=dt.timezone.utc).astimezone(zone).date().isoformat()
        d = days.setdefault(day, {"date": day, "calls": 0, "answered": 0, "abandoned": 0,
                                  "transferred": {b: 0 for b in BRANCHES}})
        d["calls"] += 1
        if outcome in ("answered", "abandoned"):
            d[outcome] += 1
        elif outcome == "transferred":
            d["transferred"][str(branch)] = d["transferred"].get(str(branch), 0) + 1
    return [days[k] for k in sorted(days)]


def _unanswered(s: Session, where: list[Any], limit: int) -> list[dict[str, Any]]:
    """Caller sentences the bot did not answer (not understood, out of scope, or an FAQ guess the
    answer gate refused), from calls whose transcripts are kept, numbers masked."""
    rows = s.execute(select(CallEventRow.call_id, Call.started_at, CallEventRow.kind, CallEventRow.data,
                            CallEventRow.words)
                     .join(Call, Call.id == CallEventRow.call_id)
                     .where(Call.transcripts.is_(True), CallEventRow.kind.in_(("caller_text", "nlu", "answer")), *where)
                     .order_by(Call.started_at, CallEventRow.call_id, CallEventRow.seq)).all()
    out: list[dict[str, Any]] = []
    pending: dict[str, Any] | None = None  # the last caller sentence and what the brain made of it

    def settle() -> None:
        if pending and pending.get("nlu") and not pending.get("answered"):
            intent = pending["intent"]
            if intent in NOT_UNDERSTOOD or str(intent).startswith("faq"):
                out.append({"call_id": pending["call_id"], "started_at": pending["started_at"],
                            "text": mask_numbers(pending["text"]), "intent": intent})

    current = None
    for call_id, started_at, kind, data, words in rows:
        if call_id != current:
            settle()
            pending, current = None, call_id
        if kind == "caller_text":
            settle()
            text = ((words or {}).get("text") or "").strip()
            pending = {"call_id": call_id, "started_at": started_at.isoformat(timespec="seconds") + "Z",
                       "text": text} if text else None
        elif kind == "nlu" and pending is not None and not pending.get("nlu"):
            pending.update(nlu=True, intent=(data or {}).get("intent"))
        elif kind == "answer" and pending is not None:
            pending["answered"] = True
    settle()
    return out[:limit]


def format_report(r: dict[str, Any], title: str) -> str:
    lines = [title, "",
             f"Calls received         {r['calls']}",
             f"Answered by the bot    {r['answered']}",
             f"Transferred            {r['transferred_total']}",
             f"Abandoned by caller    {r['abandoned']}",
             f"Ended by the bot       {r['ended_by_bot']}",
             *([f"Gateway died           {r['gateway_died']}  (ended badly: the process answering died)"]
               if r["gateway_died"] else []),
             *([f"In progress            {r['in_progress']}"] if r["in_progress"] else []), "",
             "Transfers per branch:  " + ", ".join(f"{b}: {n}" for b, n in r["transferred"].items())]
    if r["transferred_by_reason"]:
        lines.append("Transfers per reason:  " + ", ".join(f"{k}: {n}" for k, n in r["transferred_by_reason"].items()))
    lat = r["latency_ms"]
    lines.append(f"Reply latency          p50 {lat['p50']} ms, p95 {lat['p95']} ms ({lat['turns']} replies)"
                 if lat["turns"] else "Reply latency          not recorded")
    if r["top_questions"]:
        lines += ["", "Top questions (FAQ entries answered):"]
        lines += [f"  {q['answers']:5d}  {q['faq_id']}" for q in r["top_questions"]]
    if len(r["days"]) > 1:
        lines += ["", "Per day        calls  answered  transferred to 1..6  abandoned"]
        lines += [f"  {d['date']}  {d['calls']:5d}  {d['answered']:8d}  "
                  f"{' '.join(str(d['transferred'][b]) for b in BRANCHES):<19}  {d['abandoned']:9d}" for d in r["days"]]
    lines.append("")
    if not r["calls_with_transcripts"]:
        lines.append("Questions not answered: transcripts are not kept (privacy.keep_transcripts), so none to list.")
    elif r["unanswered"]:
        lines.append(f"Questions not answered ({len(r['unanswered'])}, numbers masked):")
        lines += [f"  {q['started_at']}  {q['text']}" for q in r["unanswered"]]
    else:
        lines.append("Questions not answered: none.")
    return "\n".join(lines)
