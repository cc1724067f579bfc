"""Retention: the caller's words are removed after `records.transcript_days`, from the database
and from the JSON-lines files; the calls, outcomes, FAQ ids and counts stay (bot report still
counts them)."""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from bot.records.schema import Call, CallEventRow
from bot.records.words import WORDS


def purge_transcripts(engine: Engine, days: int, now: dt.datetime | None = None) -> int:
    """Remove the caller's words from calls that started more than `days` days ago; the calls,
    their outcomes, FAQ ids and counts stay. Returns how many calls were cleaned."""
    if days <= 0:
        return 0
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    cutoff = now - dt.timedelta(days=days)
    with Session(engine) as session, session.begin():
        ids = list(session.scalars(select(Call.id).where(
            Call.started_at < cutoff, Call.transcripts.is_(True), Call.transcripts_removed_at.is_(None))))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            session.execute(update(CallEventRow).where(CallEventRow.call_id.in_(chunk)).values(words=None))
            session.execute(update(Call).where(Call.id.in_(chunk)).values(transcripts=False, transcripts_removed_at=now))
    return len(ids)


def purge_jsonl_words(records_dir: Path, days: int, today: dt.date | None = None) -> int:
    """The same retention for the JSON-lines files (`records_dir/<YYYY-MM-DD>.jsonl`): files of days
    more than `days` ago are rewritten without the caller's words. Returns how many files changed."""
    if days <= 0 or not records_dir.is_dir():
        return 0
    cutoff = (today or dt.date.today()) - dt.timedelta(days=days)
    changed = 0
    for path in sorted(records_dir.glob("*.jsonl")):
        try:
            day = dt.date.fromisoformat(path.stem)
        except ValueError:
            continue
        if day >= cutoff:
            continue
        lines, dirty = [], False
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                lines.append(line)
                continue
            if record.get("transcripts") or any(k in e for e in record.get("events") or []
                                                 for k in WORDS.get(e.get("event", ""), ())):
                record["transcripts"] = False
                record["events"] = [{k: v for k, v in e.items() if k not in WORDS.get(e.get("event", ""), ())}
                                    for e in record.get("events") or []]
                dirty = True
            lines.append(json.dumps(record, ensure_ascii=False))
        if dirty:
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
            changed += 1
    return changed
