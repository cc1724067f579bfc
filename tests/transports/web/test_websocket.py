"""The browser transport through its WebSocket, as the page uses it: a real recording is heard and
answered, the bot's voice comes back in paced 20 ms frames, keypad 0 hands the call to branch 5,
and malformed or hostile messages are refused without harming the server or the call."""
from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import numpy as np
import pytest

from bot.audio.frames import samples_per_frame
from bot.call.handoff import summarise
from bot.call.session import call_config
from bot.call.virtual_clock import caller_audio
from bot.gateway.host import CallHost
from bot.policy.reasons import Reason
from bot.transports.web import start_web
from bot.transports.web.server import MAX_MESSAGE_BYTES
from tests.call.conftest import KB, speech
from tests.conftest import needs_speech
from tests.fakes import ANSWER, KeywordBrain, recogniser_factory
from tests.transports.web.conftest import free_port

pytestmark = needs_speech

EXTERNAL = re.compile(r"""["'(`]\s*(https?:)?//\w""")  # a URL to another host: src=, href=, url(), fetch


class Page:
    """What a browser tab receives on the socket: JSON events and binary audio, in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict] = []
        self.audio: list[bytes] = []
        self.closed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.events.append(json.loads(msg.data))
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self.audio.append(msg.data)
        self.closed.set()

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["event"] == kind]

    async def wait_for(self, kind: str, timeout_s: float = 30.0, test=None, **match) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            for e in self.of(kind):
                if all(e.get(k) == v for k, v in match.items()) and (test is None or test(e)):
                    return e
            if self.closed.is_set():
                break
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {kind} {match} within {timeout_s} s: {[e['event'] for e in self.events]}")


async def microphone(ws, audio: np.ndarray, rate: int, stop: asyncio.Event) -> None:
    """A browser's microphone: 20 ms every 20 ms, the recording once after 0.5 s, else silence."""
    n = samples_per_frame(rate)
    silence = np.zeros(n, np.int16)
    frames = [silence] * 25 + [audio[i:i + n] for i in range(0, audio.size - n + 1, n)]
    loop = asyncio.get_running_loop()
    start, k = loop.time(), 0
    while not stop.is_set() and not ws.closed:
        frame = frames[k] if k < len(frames) else silence
        await ws.send_bytes(frame.astype("<i2").tobytes())
        k += 1
        await asyncio.sleep(max(0.0, start + k * 0.02 - loop.time()))


async def test_a_real_recording_is_answered_and_keypad_zero_hands_over_to_branch_5(gateway):
    audio = caller_audio(speech("vieneu/ly_female_north.wav"), 8000)
    async with aiohttp.ClientSession() as http, http.ws_connect(gateway.ws_url) as ws:
        page = Page(ws)
        hello = await page.wait_for("hello", 5)
        # Before the call: nonsense is refused with a reason, nothing breaks.
        await ws.send_bytes(b"\x00\x00" * 160)          # audio before "start"
        await ws.send_str("not json")
        await ws.send_str("[1, 2]")
        await ws.send_str(json.dumps({"dtmf": "x"}))
        await ws.send_str(json.dumps({"start": {"rate": 1}}))
        await ws.send_str(json.dumps({"start": {"rate": 8000}}))
        started = await page.wait_for("started", 5)
        await ws.send_str(json.dumps({"start": {"rate": 8000}}))  # one call per connection
        await ws.send_bytes(b"\x00" * 321)              # odd length: not int16
        stop = asyncio.Event()
        mic = asyncio.create_task(microphone(ws, audio, 8000, stop))
        try:
            heard = await page.wait_for("caller_text", 30)
            answer = await page.wait_for("answer", 10)
            await page.wait_for("bot_say", 10, test=lambda e: e["text"].startswith(ANSWER.answer))
            await asyncio.sleep(1.0)  # hear the start of the answer
            voiced_before_key = len(page.audio)
            await ws.send_str(json.dumps({"dtmf": "0"}))
            transfer = await page.wait_for("transfer", 30)
            handed = await page.wait_for("handed_over", 5)
            ended = await page.wait_for("call_ended", 10)
            await asyncio.wait_for(page.closed.wait(), 5)  # the server closes the socket after the call
        finally:
            stop.set()
            await mic

    codes = [e["code"] for e in page.of("error")]
    assert codes == ["not_started", "bad_json", "bad_command", "bad_dtmf", "bad_rate", "already_started",
                     "bad_frame"]
    assert started["line_rate"] == 8000
    # The recording's words, recognised from 8 kHz frames sent over the socket.
    assert "áp dụng" in heard["text"] and "tương tự" in heard["text"]
    assert gateway.brain.asked == [heard["text"]]
    assert page.of("nlu")[0]["intent"] and page.of("nlu")[0]["confidence"] == pytest.approx(0.99)
    assert answer["faq_id"] == ANSWER.id
    assert page.of("bot_say")[0]["text"] == KB.prompt("greeting")
    # The bot's voice came back as 20 ms frames of 8 kHz int16, real sound, not silence.
    assert {len(b) for b in page.audio} == {320}
    assert voiced_before_key * 20 >= 1500
    pcm = np.frombuffer(b"".join(page.audio), dtype="<i2")
    assert np.abs(pcm).max() > 1000
    # Keypad 0: the announcement, then the call goes to the human branch; the page is told which.
    assert page.of("dtmf")[0]["digits"] == "0"
    assert transfer["branch"] == 5 and transfer["reason"] == "keypad"
    # ... with what the agent there would be told (privacy.share_with_agent: summary, the default).
    assert handed == {"event": "handed_over", "branch": 5, "message": "Đang chuyển sang nhánh 5",
                      "call_id": started["call_id"], "reason": "keypad", "reason_text": Reason.KEYPAD.label,
                      "faq_id": ANSWER.id, "faq_question": ANSWER.question, "summary": summarise([heard["text"]], 200)}
    assert hello["reasons"]["keypad"] == Reason.KEYPAD.label and set(hello["reasons"]) >= {"danger", "no_input"}
    assert ended["outcome"] == "transferred" and ended["branch"] == 5
    assert ended["call_id"] == started["call_id"]
    assert gateway.host.calls == {}


async def test_hostile_messages_busy_gateway_and_cross_origin_do_not_hurt_the_server(fake_gateway, fakes, settings,
                                                                                     tmp_path):
    gateway = fake_gateway  # nothing here is recognised: stand-in engines (tests/fakes.py)
    async with aiohttp.ClientSession() as http:
        # The page itself: Vietnamese, self-contained (no CDN), security headers.
        async with http.get(gateway.server.address + "/") as r:
            html = await r.text()
            assert r.status == 200 and "Gọi" in html and "Content-Security-Policy" in r.headers
        assert not EXTERNAL.search(html)
        for name in ("app.js", "capture-worklet.js", "style.css"):
            async with http.get(f"{gateway.server.address}/static/{name}") as r:
                body = await r.text()
                assert r.status == 200 and body and not EXTERNAL.search(body), name
        async with http.get(gateway.server.address + "/static/..%2Fserver.py") as r:
            assert r.status == 404
        assert gateway.server.address.startswith("http://127.0.0.1:")  # localhost unless configured

        # Another site's page may not open a call on this machine.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(gateway.ws_url, headers={"Origin": "https://evil.example"})
        assert refused.value.status == 403

        # An oversized message closes only that connection (1009: message too big).
        async with http.ws_connect(gateway.ws_url) as ws:
            page = Page(ws)
            await page.wait_for("hello", 5)
            await ws.send_bytes(b"\x00" * (MAX_MESSAGE_BYTES + 2))
            await asyncio.wait_for(page.closed.wait(), 5)
            assert ws.close_code == 1009

        # A runaway sender: audio far ahead of real time is dropped, the call goes on; hang up.
        async with http.ws_connect(gateway.ws_url) as ws:
            page = Page(ws)
            await ws.send_str(json.dumps({"start": {"rate": 48000}}))
            await page.wait_for("started", 5)
            for _ in range(60):  # 6 s of 48 kHz audio at once, 100 ms per message
                await ws.send_bytes(b"\x00\x00" * 4800)
            await page.wait_for("error", 5, code="too_fast")
            await page.wait_for("bot_say", 5)
            await ws.send_str(json.dumps({"hangup": True}))
            ended = await page.wait_for("call_ended", 10)
            await asyncio.wait_for(page.closed.wait(), 5)
            assert ended["reason"] == "caller_hung_up"
        assert gateway.host.calls == {}

        # Closing the tab mid-call ends the call (its record is written).
        async with http.ws_connect(gateway.ws_url) as ws:
            page = Page(ws)
            await ws.send_str(json.dumps({"start": {"rate": 16000}}))
            await page.wait_for("bot_say", 5)
        for _ in range(100):
            if not gateway.host.calls:
                break
            await asyncio.sleep(0.05)
        assert gateway.host.calls == {}
        assert list((tmp_path / "records").glob("*.jsonl"))

        # Stopping the server mid-call hangs the call up (record written) and closes the socket.
        async with http.ws_connect(gateway.ws_url) as ws:
            page = Page(ws)
            await ws.send_str(json.dumps({"start": {"rate": 48000}}))
            await page.wait_for("bot_say", 5)
            await gateway.server.close()
            ended = await page.wait_for("call_ended", 5)
            await asyncio.wait_for(page.closed.wait(), 5)
            assert ended["reason"] == "caller_hung_up" and ws.close_code == 1001
        assert gateway.host.calls == {}

    # A full gateway refuses politely and closes.
    s = settings.replace(gateway={"max_calls": 0}, web={"port": free_port()},
                         privacy={"records_dir": str(tmp_path / "records")})
    full = CallHost(s, fakes, KeywordBrain(), call_config(s), asr_factory=recogniser_factory(fakes))
    server = await start_web(full, s)
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(server.address + "/ws") as ws:
            page = Page(ws)
            await ws.send_str(json.dumps({"start": {"rate": 48000}}))
            busy = await page.wait_for("busy", 5)
            await asyncio.wait_for(page.closed.wait(), 5)
        assert "bận" in busy["message"] and full.stats.calls_refused == 1 and not page.of("started")
    finally:
        await server.close()
        await full.aclose()


async def test_the_page_gets_only_what_the_privacy_setting_shares(fakes, settings, tmp_path):
    """privacy.share_with_agent: reason: the call id and the reason reach the page; the caller's
    words do not (stand-in engines: keypad only)."""
    from tests.transports.web.conftest import serving

    async with serving(fakes, settings.replace(privacy={"share_with_agent": "reason"}), tmp_path) as gateway:
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.ws_url) as ws:
            page = Page(ws)
            await ws.send_str(json.dumps({"start": {"rate": 8000}}))
            started = await page.wait_for("started", 5)
            await page.wait_for("bot_say", 5)
            await ws.send_str(json.dumps({"dtmf": "3"}))
            handed = await page.wait_for("handed_over", 30)
            await page.wait_for("call_ended", 10)
    assert handed == {"event": "handed_over", "branch": 3, "message": "Đang chuyển sang nhánh 3",
                      "call_id": started["call_id"], "reason": "keypad", "reason_text": Reason.KEYPAD.label,
                      "faq_id": "", "faq_question": "", "summary": ""}
