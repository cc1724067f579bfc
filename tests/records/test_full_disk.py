"""The records' disk is full: the database (SQLite), the spool and the JSON lines all on a small
tmpfs filled to the last byte. Live calls through the gateway's call path (`CallHost`/`LiveCall`,
fake engines, an in-memory phone line) go on exactly as on a disk with room; the error is logged
once; the metrics count what could not be written; once there is room again every record kept in
memory is written (database and JSON lines, no half lines). Needs root (mount); skipped otherwise."""
from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from bot.call.session import call_config
from bot.gateway.host import CallHost
from bot.ops.metrics import GatewayMetrics
from bot.records.store import RecordStore
from tests.fakes import KeywordBrain, fake_engines, one_call, recogniser_factory
from tests.records.helpers import bot_report


@pytest.fixture
def small_disk(tmp_path):
    """A 512 KiB tmpfs (room for the empty database), unmounted at the end."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Fill the filesystem to the last byte; returns the filler (remove it to make room)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (65536, 4096, 512, 64, 1):  # down to the last partial page
            try:
                while os.write(fd, b"\0" * size) == size:
                    pass
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


async def keypad_call(host: CallHost, digit: str):
    summary, peer, call = await one_call(host, digit, caller="0912345678")
    return summary, peer, [e["event"] for e in call.events]


async def test_a_full_disk_changes_nothing_for_callers_and_loses_no_record(small_disk, settings, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="bot.records.store")
    url = f"sqlite:///{small_disk / 'branch7.sqlite3'}"
    records_dir = small_disk / "records"
    s = settings.replace(privacy={"records_dir": str(records_dir)})
    engines = fake_engines(tmp_path / "prompts")
    host = CallHost(s, engines, KeywordBrain(), call_config(s), asr_factory=recogniser_factory(engines))
    host.records = store = RecordStore(url, small_disk / "spool", retry_s=0.2, checkpoint_s=0)
    metrics = GatewayMetrics(host)
    store.start()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, store.wait_tried, 30)
    try:
        healthy = await keypad_call(host, "2")  # with room: the reference
        assert await loop.run_in_executor(None, store.flush, 30)
        filler = fill(small_disk)
        full = [await keypad_call(host, d) for d in ("2", "4", "6")]
        assert await loop.run_in_executor(None, store.flush, 30)
        # The callers noticed nothing: the same events, transfers and goodbye as with room.
        assert [f[2] for f in full] == [healthy[2]] * 3
        assert [f[1].transfers for f in full] == [[2], [4], [6]]
        assert [f[0].outcome for f in full] == ["transferred"] * 3
        # Counted and held, not lost; said once.
        assert store.held > 0 and store.stats.unwritten > 0 and store.stats.lost == 0
        assert metrics.registry.get_sample_value("branch7_records_unwritten_total") == store.stats.unwritten
        assert metrics.registry.get_sample_value("branch7_records_held") == store.held
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors, "the outage was not logged"
        assert len(errors) == len({m.split("(")[0] for m in errors}) <= 2, errors  # each kind once
        # Room again: everything kept is written.
        filler.unlink()
        deadline = loop.time() + 60
        while (store.held or store.spooled_count()) and loop.time() < deadline:
            await asyncio.sleep(0.1)
        assert store.held == 0 and store.spooled_count() == 0
    finally:
        await host.aclose()
        await loop.run_in_executor(None, store.close)
    assert store.stats.lost == 0
    report = bot_report(url)
    assert report["calls"] == 4 and report["in_progress"] == 0
    assert report["transferred"] == {"1": 0, "2": 2, "3": 0, "4": 1, "5": 0, "6": 1}
    lines = [json.loads(x) for f in sorted(records_dir.glob("*.jsonl")) for x in f.read_text().splitlines()]
    assert sorted(r["summary"]["branch"] for r in lines) == [2, 2, 4, 6]  # each call's line once, whole


def test_when_more_records_wait_than_allowed_the_oldest_are_dropped_and_counted(tmp_path):
    """The bound: memory does not grow without end while the disk stays full."""
    store = RecordStore(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path / "spool", held_max=3, checkpoint_s=0)
    for n in range(5):
        store._hold(store._held, {"call_id": f"c{n}"}, "record")
    assert [r["call_id"] for r in store._held] == ["c2", "c3", "c4"]
    assert (store.stats.unwritten, store.stats.lost, store.held) == (5, 2, 3)
    store.engine.dispose()
