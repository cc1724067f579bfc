"""The gateway's log as JSON lines carrying the call id (bot/ops/logs.py), through live calls."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys

import pytest

from bot.call.session import call_config
from bot.gateway.host import CallHost
from bot.ops.logs import setup_logging
from tests.conftest import ROOT
from tests.fakes import KeywordBrain, RecordingPeer, fake_engines, recogniser_factory

log = logging.getLogger("tests.ops.calls")


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


async def test_each_line_is_json_and_carries_its_calls_id(settings, tmp_path, restore_logging):
    out = io.StringIO()
    setup_logging(settings.replace(log={"format": "json", "level": "INFO"}).log, stream=out)
    s = settings.replace(privacy={"records_dir": str(tmp_path / "records")}, records={"enabled": False})
    engines = fake_engines(tmp_path / "prompts")
    host = CallHost(s, engines, KeywordBrain(), call_config(s), asr_factory=recogniser_factory(engines))
    # Something that logs on the call's behalf: every event of every call, logged where it happens.
    host.listeners.append(lambda e: log.info("event %s of %s\nsecond line", e["event"], e.get("call_id")))
    calls = [host.open_call(RecordingPeer(), "0912345678") for _ in range(2)]
    runs = [asyncio.create_task(c.run()) for c in calls]
    try:
        await asyncio.sleep(0.2)
        log.warning("outside any call")
        calls[0].dtmf("3")
        calls[1].dtmf("0")
        await asyncio.wait_for(asyncio.gather(*runs), 60)
    finally:
        for r in runs:
            r.cancel()
        await host.aclose()
    lines = [json.loads(x) for x in out.getvalue().splitlines()]  # each line parses: one object a line
    assert all({"ts", "level", "logger", "msg"} <= set(x) for x in lines)
    ours = [x for x in lines if x["logger"] == "tests.ops.calls"]
    for line in ours:
        if line["msg"] == "outside any call":
            assert "call_id" not in line and line["level"] == "WARNING"
        else:
            # "event <kind> of <id>": the id the event carries is the one the line carries
            assert line["msg"].split()[3] == line["call_id"] and line["msg"].endswith("\nsecond line")
    seen = {x["call_id"] for x in ours if "call_id" in x}
    assert seen == {c.call_id for c in calls}
    assert {x["msg"].split()[1] for x in ours if "call_id" in x} >= {"bot_say", "dtmf", "transfer", "call_ended"}
    # The host's own lines: the call's start (masked number) and its end (outcome), with its id.
    host_lines = [x for x in lines if x["logger"] == "bot.gateway.host"]
    for call in calls:
        mine = [x["msg"] for x in host_lines if x.get("call_id") == call.call_id]
        assert f"call {call.call_id} from 091****678" in mine
        assert any(m.startswith(f"call {call.call_id} ended: transferred to branch") for m in mine), mine
    assert "0912345678" not in out.getvalue() and "091****678" in out.getvalue()


def test_text_format_and_level(settings, restore_logging):
    out = io.StringIO()
    setup_logging(settings.replace(log={"format": "text", "level": "warning"}).log, stream=out)
    log.info("not shown")
    log.warning("shown")
    assert out.getvalue().count("\n") == 1 and "WARNING tests.ops.calls: shown" in out.getvalue()
    with pytest.raises(ValueError, match="log.format: 'xml' is not one of json, text"):
        setup_logging(settings.replace(log={"format": "xml"}).log, stream=out)
    with pytest.raises(ValueError, match="log.level: 'LOUD'"):
        setup_logging(settings.replace(log={"level": "LOUD"}).log, stream=out)


def test_bot_run_refuses_a_bad_log_setting_before_starting_anything():
    done = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "BOT_LOG_FORMAT": "xml"}, timeout=60)
    assert done.returncode == 2 and "log.format: 'xml' is not one of json, text" in done.stderr
    assert "Starting" not in done.stdout
