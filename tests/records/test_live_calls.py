"""Real calls through the gateway's in-process call path (`CallHost` / `LiveCall`, fake engines,
an in-memory phone line) with the database store attached, then `bot report --json` as the
operator runs it: its figures agree with the calls made, on SQLite and on PostgreSQL."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from zoneinfo import ZoneInfo


from bot.brain.client import BrainReply
from bot.call.session import call_config
from bot.gateway.host import CallHost
from bot.records.store import RecordStore
from tests.fakes import ANSWER, CallerLine, KeywordBrain, RecordingPeer, fake_engines, one_call, recogniser_factory, tone, until
from tests.records.helpers import bot, bot_report, record

WEATHER = "thời tiết ngày mai thế nào, số tôi 0912 345 678"


class Brain(KeywordBrain):
    """The FAQ answer to anything, except the weather: out of scope (the bot cannot answer)."""

    async def turn(self, sender: str, text: str) -> BrainReply:
        if "thời tiết" in text:
            self.asked.append(text)
            return BrainReply(text, "out_of_scope", 0.93, "dialog", None, None, "Xin lỗi, tôi chưa có thông tin.")
        return await super().turn(sender, text)


async def until_event(call, kind: str, timeout_s: float = 30.0) -> None:
    await until(lambda: any(e["event"] == kind for e in call.events), f"{kind}: {[e['event'] for e in call.events]}",
                timeout_s)


async def test_bot_report_agrees_with_the_calls_made(db_url, settings, tmp_path):
    s = settings.replace(privacy={"records_dir": str(tmp_path / "records"), "keep_transcripts": True},
                         gateway={"media_timeout_s": 20.0})
    engines = fake_engines(tmp_path / "prompts", ["hộ nghèo được hỗ trợ bao nhiêu", WEATHER])
    host = CallHost(s, engines, Brain(), call_config(s), asr_factory=recogniser_factory(engines))
    host.records = store = RecordStore(db_url, tmp_path / "spool")
    store.start()
    peers = [RecordingPeer() for _ in range(5)]
    calls = [host.open_call(p, f"09{i}1234567") for i, p in enumerate(peers)]
    runs = [asyncio.create_task(c.run()) for c in calls]
    lines = [CallerLine(c) for c in calls]
    try:
        await asyncio.sleep(0.3)
        calls[0].dtmf("3")          # keypad: branch 3
        calls[1].dtmf("0")          # keypad 0: a human (branch 5)
        lines[3].hang_up()          # hangs up during the greeting
        await lines[2].say(tone(1.0))   # asks an FAQ question (barging in), is answered, hangs up
        await until_event(calls[2], "answer")
        lines[2].hang_up()
        await lines[4].say(tone(1.0))   # asks about the weather: not answered; hangs up
        await until_event(calls[4], "nlu")
        await asyncio.sleep(0.3)
        lines[4].hang_up()
        summaries = await asyncio.wait_for(asyncio.gather(*runs), 90)
    finally:
        for r in runs:
            r.cancel()
        for line in lines:
            line.hang_up()
        await host.aclose()
        await asyncio.get_running_loop().run_in_executor(None, store.close)
    assert [x.outcome for x in summaries] == ["transferred", "transferred", "answered", "abandoned", "abandoned"]
    assert store.stats.written == 5 and store.stats.spooled == 0

    today = dt.datetime.now(ZoneInfo(s.records.timezone)).date().isoformat()
    report = bot_report(db_url, "--from", today, "--to", today)
    assert (report["calls"], report["answered"], report["abandoned"]) == (5, 1, 2)
    assert report["transferred"] == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1, "6": 0}
    assert report["top_questions"] == [{"faq_id": ANSWER.id, "answers": 1}]
    assert [q["text"] for q in report["unanswered"]] == ["thời tiết ngày mai thế nào, số tôi 091****678"]
    assert report["latency_ms"]["turns"] >= 1 and report["latency_ms"]["p50"] is not None
    # The same calls as the JSON lines: each once.
    lines_written = [json.loads(x) for f in (tmp_path / "records").glob("*.jsonl") for x in f.read_text().splitlines()]
    assert sorted(r["call_id"] for r in lines_written) == sorted(c.call_id for c in calls)
    # A day with no calls is empty, not an error.
    assert bot_report(db_url, "--to", "2020-01-01")["calls"] == 0
    # The JSON lines imported into an empty database give the same figures; into this one, nothing new.
    files = [str(f) for f in (tmp_path / "records").glob("*.jsonl")]
    fresh = f"sqlite:///{tmp_path / 'imported.sqlite3'}"
    assert bot(fresh, "records-import", *files).startswith("5 calls added, 0 already there")
    assert bot_report(fresh) == bot_report(db_url)
    assert bot(db_url, "records-import", *files).startswith("0 calls added, 5 already there")


def test_report_days_are_local_days_and_transfers_per_reason(db_url, tmp_path):
    hanoi = ZoneInfo("Asia/Ho_Chi_Minh")
    # 23:30 on 1 Dec in Hanoi is 16:30 UTC: it belongs to 1 Dec, not 2 Dec.
    late = dt.datetime(2026, 12, 1, 23, 30, tzinfo=hanoi)
    store = RecordStore(db_url, tmp_path / "spool")
    store.start()
    store.submit(record(tmp_path, "d1", "transferred:1:danger", started=late))
    store.submit(record(tmp_path, "d2", "transferred:5:keypad", started=late + dt.timedelta(hours=1)))
    store.submit(record(tmp_path, "d3", "transferred:5:not_understood", started=late + dt.timedelta(hours=2)))
    store.submit(record(tmp_path, "d4", "answered", started=late + dt.timedelta(days=3)))
    assert store.flush(30)
    store.close()
    first = bot_report(db_url, "--from", "2026-12-01", "--to", "2026-12-01")
    assert (first["calls"], first["transferred"]["1"], first["transferred"]["5"]) == (1, 1, 0)
    second = bot_report(db_url, "--from", "2026-12-02", "--to", "2026-12-02")
    assert second["calls"] == 2 and second["transferred"]["5"] == 2
    assert second["transferred_by_reason"] == {"keypad": 1, "not_understood": 1}
    everything = bot_report(db_url)
    assert (everything["calls"], everything["answered"], everything["abandoned"]) == (4, 1, 0)
    assert sum(everything["transferred"].values()) == everything["transferred_total"] == 3
    assert [(d["date"], d["calls"], d["transferred"]["1"], d["transferred"]["5"], d["answered"])
            for d in everything["days"]] == [("2026-12-01", 1, 1, 0, 0), ("2026-12-02", 2, 0, 2, 0),
                                             ("2026-12-04", 1, 0, 0, 1)]
    text = bot(db_url, "report", "--from", "2026-12-02", "--to", "2026-12-02").splitlines()
    assert "Calls received         2" in text and "Transferred            2" in text
    assert "Transfers per branch:  1: 0, 2: 0, 3: 0, 4: 0, 5: 2, 6: 0" in text


async def test_postgres_killed_while_calls_end_loses_no_call(pg_cluster, settings, tmp_path):
    """Live calls end while the PostgreSQL server is dead: the calls go on, their records wait in the
    spool and reach the database when the server is back."""
    url = pg_cluster.new_database()
    s = settings.replace(privacy={"records_dir": str(tmp_path / "records")})
    engines = fake_engines(tmp_path / "prompts")
    host = CallHost(s, engines, Brain(), call_config(s), asr_factory=recogniser_factory(engines))
    host.records = store = RecordStore(url, tmp_path / "spool", retry_s=0.5)
    store.start()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, store.wait_tried, 30)

    async def keypad_call(digit: str):
        summary, peer, _ = await one_call(host, digit, caller="0912345678")
        return summary, peer

    try:
        first = await keypad_call("2")
        assert await loop.run_in_executor(None, store.flush, 30)  # in the database before the kill
        await loop.run_in_executor(None, pg_cluster.stop, "immediate")
        during = await asyncio.gather(keypad_call("4"), keypad_call("6"))
        assert await loop.run_in_executor(None, store.flush, 30)
        assert store.spooled_count() == 2 and not store.database_up
        await loop.run_in_executor(None, pg_cluster.start)
        last = await keypad_call("3")
        deadline = loop.time() + 30
        while (store.spooled_count() or store.stats.written < 4) and loop.time() < deadline:
            await asyncio.sleep(0.2)
    finally:
        await host.aclose()
        await loop.run_in_executor(None, store.close)
        try:
            pg_cluster.start()
        except RuntimeError:
            pass  # running
    # The calls were not disturbed: each was handed over to its branch.
    assert [p.transfers for _, p in [first, *during, last]] == [[2], [4], [6], [3]]
    assert store.spooled_count() == 0
    report = bot_report(url)
    assert report["calls"] == 4
    assert report["transferred"] == {"1": 0, "2": 1, "3": 1, "4": 1, "5": 0, "6": 1}
