"""A call leaves an "open" row when it starts, so a gateway killed during the call still leaves a
record: the next sweep (a store's start, `bot report`) closes it as `gateway_died` with what was
saved (masked caller, transport, the events up to the last checkpoint). On SQLite and PostgreSQL.

The killed process here is a real one: a child Python process running a `RecordStore` with a
call in progress, killed with SIGKILL (tests/records/test_gateway_killed.py does the same to a
whole `bot run` with a sipp caller)."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap

from alembic import command
from alembic.config import Config
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.call.events import BotSayEvent, NluEvent, SummaryEvent
from bot.call.records import CallRecorder
from bot.records.schema import Call, CallEventRow
from bot.records.store import (DIED, MIGRATIONS, OPEN, RecordStore, close_dead_calls, make_engine, migrate,
                               process_gone, process_id)
from tests.records.helpers import ROOT, bot_report


def rows(url: str) -> dict[str, Call]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return {c.id: c for c in s.scalars(select(Call)).all()}
    finally:
        engine.dispose()


def events_of(url: str, call_id: str) -> list[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return list(s.scalars(select(CallEventRow.kind).where(CallEventRow.call_id == call_id)
                                  .order_by(CallEventRow.seq)).all())
    finally:
        engine.dispose()


def test_an_old_database_is_migrated_and_keeps_its_calls(db_url):
    """A database at the first revision (before open rows) is brought to the new one with its calls."""
    engine = make_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.execute(text("insert into calls (id, started_at, ended_at, caller, transport, outcome, reason, turns, "
                          "answers, duration_s, latency_ms, transcripts) values ('old1', '2026-12-01 01:00:00', "
                          "'2026-12-01 01:01:00', '091****678', 'sip', 'answered', '', 1, '[]', 60.0, '[]', false)"))
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar_one() == "0002"
        assert conn.execute(text("select outcome, gateway from calls where id = 'old1'")).one() == ("answered", None)
    engine.dispose()


def test_a_call_has_an_open_row_while_it_runs_and_one_record_when_it_ends(db_url, tmp_path):
    store = RecordStore(db_url, tmp_path / "spool", checkpoint_s=0)
    store.start()
    try:
        rec = CallRecorder(tmp_path / "records", "c1", "0912345678", store=store, transport="sip")
        rec.add(BotSayEvent("Xin chào", 1200), 0.0)
        assert store.flush(30)
        row = rows(db_url)["c1"]
        assert (row.outcome, row.caller, row.transport, row.gateway) == (OPEN, "091****678", "sip", process_id())
        rec.close(SummaryEvent("abandoned", reason="caller_hung_up", duration_s=2.0))
        assert store.flush(30)
    finally:
        store.close()
    row = rows(db_url)["c1"]
    assert (row.outcome, row.reason, row.gateway) == ("abandoned", "caller_hung_up", process_id())
    assert events_of(db_url, "c1") == ["bot_say"]
    assert store.stats.written == 1 and store.stats.opened == 1
    assert bot_report(db_url)["calls"] == 1


def test_a_call_of_a_live_gateway_stays_open_and_dead_or_too_old_ones_are_closed(db_url, tmp_path):
    gone = subprocess.run([sys.executable, "-c", "from bot.records.store import process_id; print(process_id())"],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert process_gone(gone) and not process_gone(process_id())
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    engine = make_engine(db_url)
    migrate(engine)
    with Session(engine) as s, s.begin():
        for cid, owner, started in (("live", process_id(), now), ("dead", gone, now - dt.timedelta(seconds=30)),
                                    ("elsewhere", "other-host:123:456", now),
                                    ("old", "other-host:123:456", now - dt.timedelta(hours=2))):
            s.add(Call(id=cid, started_at=started, ended_at=started + dt.timedelta(seconds=12), caller="091****678",
                       transport="sip", outcome=OPEN, reason="", turns=0, answers=[], duration_s=0.0,
                       latency_ms=[], transcripts=False, gateway=owner))
    assert close_dead_calls(engine, max_age_s=1200) == 2
    assert close_dead_calls(engine, max_age_s=1200) == 0  # each once
    engine.dispose()
    got = {k: (v.outcome, v.reason) for k, v in rows(db_url).items()}
    assert got == {"live": (OPEN, ""), "dead": (DIED, "gateway_died:process_gone"),
                   "elsewhere": (OPEN, ""), "old": (DIED, "gateway_died:too_old")}
    assert rows(db_url)["dead"].duration_s == 12.0  # until it was last seen
    report = bot_report(db_url)
    assert (report["calls"], report["gateway_died"], report["in_progress"]) == (4, 2, 2)


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from bot.call.events import BotSayEvent, NluEvent
    from bot.call.records import CallRecorder
    from bot.records.store import RecordStore
    url, work = sys.argv[1], Path(sys.argv[2])
    store = RecordStore(url, work / "spool", checkpoint_s=0.2)
    store.start()
    store.wait_tried(60)
    rec = CallRecorder(work / "records", "k1", "0987654321", store=store, transport="sip")
    rec.add(BotSayEvent("Xin chào", 1200), 0.0)
    rec.add(NluEvent("faq", 0.9), 3.0)
    while store.stats.checkpoints < 1:
        time.sleep(0.05)
    print("ready", flush=True)
    time.sleep(600)
""")


def test_a_process_killed_during_a_call_leaves_a_gateway_died_record_with_its_events(db_url, tmp_path):
    child = subprocess.Popen([sys.executable, "-c", CHILD, db_url, str(tmp_path)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        assert rows(db_url)["k1"].outcome == OPEN
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    # The next gateway's store closes it when it starts.
    store = RecordStore(db_url, tmp_path / "spool2", checkpoint_s=0)
    store.start()
    assert store.wait_tried(30)
    store.close()
    row = rows(db_url)["k1"]
    assert (row.outcome, row.reason, row.caller, row.transport, row.turns) == (
        DIED, "gateway_died:process_gone", "098****321", "sip", 1)
    assert events_of(db_url, "k1") == ["bot_say", "nlu"]
    assert store.stats.died_closed == 1
    assert bot_report(db_url)["gateway_died"] == 1


def test_the_real_end_replaces_a_gateway_died_row(db_url, tmp_path):
    """A record replayed late (a spool from another box) wins over the sweep's guess."""
    store = RecordStore(db_url, tmp_path / "spool", checkpoint_s=0)
    store.start()
    try:
        rec = CallRecorder(tmp_path / "records", "r1", "0912345678", store=store, transport="sip")
        assert store.flush(30)
        engine = make_engine(db_url)
        with Session(engine) as s, s.begin():
            s.get(Call, "r1").outcome = DIED
        engine.dispose()
        rec.close(SummaryEvent("answered", turns=1, answers=["x"], duration_s=9.0))
        assert store.flush(30)
    finally:
        store.close()
    assert rows(db_url)["r1"].outcome == "answered"


def test_events_of_a_call_whose_open_row_was_still_queued_are_saved_at_the_next_checkpoint(db_url, tmp_path):
    """The writer runs its checkpoint before it writes the item it just took: a call that said
    something before its open row reached the database is saved next time, not forgotten."""
    store = RecordStore(db_url, tmp_path / "spool", checkpoint_s=0)  # 0: checkpoints only when called here
    migrate(store.engine)
    store._migrated = True
    rec = CallRecorder(tmp_path / "records", "q1", "0912345678", store=store, transport="sip")
    rec.add(BotSayEvent("Xin chào", 1200), 0.0)
    store._checkpoint()  # the writer is not started: the open row is still queued
    assert events_of(db_url, "q1") == []
    store.start()
    try:
        assert store.flush(30)
        store._checkpoint()  # the events did not change, and are saved now
        assert events_of(db_url, "q1") == ["bot_say"]
    finally:
        store.close()
