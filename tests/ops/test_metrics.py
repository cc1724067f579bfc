"""/metrics, read over HTTP from the real exporter, agrees with `bot report --json` over the same
calls: live calls through `CallHost`/`LiveCall` (fake engines, in-memory phone lines) with the
records database attached, a call refused by the browser transport because the lines are full,
a brain that fails one turn; and model swaps read from a brain's health route."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.brain.client import BrainReply
from bot.brain.servers import brain_health
from bot.call.session import call_config
from bot.gateway.host import CallHost
from bot.ops.metrics import GatewayMetrics
from bot.records.store import RecordStore
from bot.transports.web.server import start_web
from tests.fakes import (ANSWER, KB, CallerLine, KeywordBrain, RecordingPeer, fake_engines, recogniser_factory, tone,
                         until)
from tests.records.helpers import bot_report

METRICS_PORT, WEB_PORT, BRAIN_PORT = 15801, 15802, 15803
POWER_CUT = "nhà tôi mất điện từ sáng"


class Brain(KeywordBrain):
    """The FAQ answer to anything, except one question on which Rasa 'times out' (the client's
    own fallback: an apology and a transfer to the human branch)."""

    async def turn(self, sender: str, text: str) -> BrainReply:
        if "mất điện" in text:
            return BrainReply(text, None, 0.0, "transfer", None, 5, KB.prompt("system_error", 5),
                              "brain_unavailable:timeout", [text])
        return await super().turn(sender, text)




async def scrape(port: int) -> dict[str, dict[tuple, float]]:
    """name -> {labels as sorted tuples: value} for every sample on /metrics."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
            text = await resp.text()
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def refused_by_the_web_page(port: int) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
            await ws.send_str(json.dumps({"start": {"rate": 8000}}))
            async for msg in ws:
                event = json.loads(msg.data)
                if event["event"] in ("busy", "started"):
                    return event
    raise AssertionError("the web page closed without an answer")


async def test_metrics_agree_with_bot_report(settings, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'branch7.sqlite3'}"
    s = settings.replace(privacy={"records_dir": str(tmp_path / "records"), "keep_transcripts": False},
                         gateway={"media_timeout_s": 20.0, "max_calls": 5},
                         web={"port": WEB_PORT}, studio={"enabled": False})
    engines = fake_engines(tmp_path / "prompts", ["hộ nghèo được hỗ trợ bao nhiêu", POWER_CUT])
    host = CallHost(s, engines, Brain(), call_config(s), asr_factory=recogniser_factory(engines))
    host.records = store = RecordStore(db_url, tmp_path / "spool")
    store.start()
    metrics = GatewayMetrics(host)
    host.listeners.append(metrics.listen)
    assert metrics.start("127.0.0.1", METRICS_PORT) == ("127.0.0.1", METRICS_PORT)
    web_server = await start_web(host, s)
    peers = [RecordingPeer() for _ in range(5)]
    calls = [host.open_call(p, f"09{i}1234567") for i, p in enumerate(peers)]
    runs = [asyncio.create_task(c.run()) for c in calls]
    lines = [CallerLine(c) for c in calls]
    try:
        before = await scrape(METRICS_PORT)
        assert before["branch7_calls_in_progress"][()] == 5
        assert before["branch7_engine_errors_total"] == {(("engine", e),): 0 for e in ("asr", "brain", "voice")}
        busy = await refused_by_the_web_page(WEB_PORT)   # a sixth caller: all five lines are taken
        assert busy["event"] == "busy"
        calls[0].dtmf("3")          # keypad: branch 3
        calls[1].dtmf("0")          # keypad 0: a human (branch 5)
        lines[3].hang_up()          # hangs up during the greeting
        await lines[2].say(tone(1.0))   # an FAQ question: answered, then hangs up
        await until(lambda: any(e["event"] == "answer" for e in calls[2].events), "an answer")
        lines[2].hang_up()
        await lines[4].say(tone(1.0))   # the brain fails on this one: apology, transfer to 5
        summaries = await asyncio.wait_for(asyncio.gather(*runs), 90)
    finally:
        for r in runs:
            r.cancel()
        for line in lines:
            line.hang_up()
        await web_server.close()
        await host.aclose()
        await asyncio.get_running_loop().run_in_executor(None, store.close)
    try:
        after = await scrape(METRICS_PORT)
    finally:
        await metrics.close()
    assert sorted(x.outcome for x in summaries) == ["abandoned", "answered", "transferred", "transferred",
                                                    "transferred"]
    report = bot_report(db_url)
    assert report["calls"] == 5

    def by(name: str, label: str) -> dict[str, float]:
        return {dict(k)[label]: v for k, v in after.get(name, {}).items() if v}

    assert sum(after["branch7_calls_total"].values()) == report["calls"]
    assert by("branch7_calls_total", "outcome") == report["outcomes"]
    per_branch = {b: 0.0 for b in report["transferred"]}
    for labels, n in after["branch7_transfers_total"].items():
        per_branch[dict(labels)["branch"]] += n
    assert per_branch == report["transferred"] and per_branch["5"] == 2 and per_branch["3"] == 1
    assert {(dict(k)["branch"], dict(k)["reason"]): v for k, v in after["branch7_transfers_total"].items()} == \
        {(str(t["branch"]), t["reason"]): t["calls"] for t in report["transfers"]}
    assert by("branch7_answers_total", "faq_id") == {q["faq_id"]: q["answers"] for q in report["top_questions"]}
    assert by("branch7_answers_total", "faq_id") == {ANSWER.id: 1}
    assert after["branch7_reply_latency_seconds_count"][()] == report["latency_ms"]["turns"] >= 2
    assert after["branch7_engine_errors_total"][(("engine", "brain"),)] == 1
    assert after["branch7_engine_errors_total"][(("engine", "asr"),)] == 0
    assert after["branch7_calls_refused_total"][()] == host.stats.calls_refused == 1
    assert after["branch7_calls_started_total"][()] == 5
    assert after["branch7_calls_in_progress"][()] == 0
    assert after["branch7_audio_frames_sent_total"][()] == host.stats.frames_sent > 0
    assert after["branch7_audio_frames_late_total"][()] == host.stats.late_frames


async def test_a_model_swap_in_the_brain_is_counted(settings, tmp_path):
    """A real HTTP health route (as actions/server/channel.py answers) changes its model id."""
    health = {"status": "ok", "model": "20261206-120000-a", "checkout": "x"}

    async def route(request: web.Request) -> web.Response:
        return web.json_response(health)

    app = web.Application()
    app.router.add_get("/webhooks/brain/", route)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", BRAIN_PORT).start()
    engines = fake_engines(tmp_path / "prompts")
    host = CallHost(settings, engines, Brain(), call_config(settings))
    metrics = GatewayMetrics(host)
    url = f"http://127.0.0.1:{BRAIN_PORT}"
    try:
        metrics.start("127.0.0.1", METRICS_PORT, lambda: brain_health(url), brain_poll_s=0.05)
        # A second exporter on the same port: a clear error naming the setting, not a traceback.
        with pytest.raises(OSError, match=f"metrics: cannot listen on 127.0.0.1:{METRICS_PORT} .*metrics.port"):
            GatewayMetrics(host).start("127.0.0.1", METRICS_PORT)
        await until(lambda: metrics.brain_up._value.get() == 1, "the brain seen up")
        first = await scrape(METRICS_PORT)
        assert first["branch7_brain_model_swaps_total"][()] == 0 and first["branch7_brain_up"][()] == 1
        health["model"] = "20261206-130000-b"   # `bot train` swapped a new model in
        await until(lambda: metrics.model_swaps._value.get() == 1, "the swap counted")
        health["status"] = "loading"
        await until(lambda: metrics.brain_up._value.get() == 0, "the brain seen down")
        second = await scrape(METRICS_PORT)
        assert second["branch7_brain_model_swaps_total"][()] == 1 and second["branch7_brain_up"][()] == 0
    finally:
        await metrics.close()
        await runner.cleanup()
