"""The page in a real headless Chromium, driven over the Chrome DevTools Protocol (no Selenium).

Chromium's fake microphone plays a real recording: the page's AudioWorklet captures it, the
gateway hears and answers it, and the page shows the transcript, the intent, the answer; keypad 0
then shows the transfer to branch 5. This is the whole browser path: getUserMedia, the worklet,
the WebSocket, server-side resampling from the browser's rate to 8 kHz, playback scheduling.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import wave
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from bot.audio.files import read_audio
from tests.call.conftest import speech
from tests.conftest import needs_speech
from bot.policy.reasons import Reason
from tests.fakes import ANSWER

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [needs_speech, pytest.mark.skipif(CHROMIUM is None, reason=(
    "needs a Chromium/Chrome binary on PATH (Debian: apt-get install chromium) for the real-browser test"))]


def fake_microphone(path: Path) -> Path:
    """What Chromium's fake capture device plays, looped: 1 s of silence, the question, then a
    long silence so the caller asks only once during the test (16-bit PCM WAV, as Chromium wants)."""
    samples, rate = read_audio(speech("vieneu/ly_female_north.wav"))
    pcm = np.asarray(samples)
    if pcm.dtype != np.int16:
        pcm = np.clip(pcm * 32767, -32768, 32767).astype(np.int16)
    pcm = np.concatenate([np.zeros(rate, np.int16), pcm, np.zeros(60 * rate, np.int16)])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return path


class Browser:
    """Headless Chromium and one tab, through the DevTools WebSocket."""

    def __init__(self, proc: asyncio.subprocess.Process, http: aiohttp.ClientSession,
                 ws: aiohttp.ClientWebSocketResponse) -> None:
        self.proc, self.http, self.ws = proc, http, ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self.console: list[str] = []
        self.session = ""
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def launch(cls, tmp_path: Path, microphone: Path) -> Browser:
        profile = tmp_path / "profile"
        log = open(tmp_path / "chromium.log", "wb")  # noqa: SIM115 - closed with the process
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM, "--headless=new", "--remote-debugging-port=0", f"--user-data-dir={profile}",
            "--no-sandbox", "--no-first-run", "--no-default-browser-check", "--disable-gpu",
            "--disable-dev-shm-usage", "--disable-extensions", "--mute-audio",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}",
            "--autoplay-policy=no-user-gesture-required", "about:blank",
            stdout=log, stderr=log)
        log.close()
        port_file = profile / "DevToolsActivePort"
        for _ in range(200):
            if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
                break
            if proc.returncode is not None:
                raise RuntimeError(f"chromium exited: {(tmp_path / 'chromium.log').read_text()[-2000:]}")
            await asyncio.sleep(0.1)
        else:
            proc.kill()
            raise RuntimeError("chromium did not open its DevTools port within 20 s")
        port, path = port_file.read_text().splitlines()[:2]
        http = aiohttp.ClientSession()
        ws = await http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        return cls(proc, http, ws)

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            future = self._pending.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)
            elif data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"]["args"]
                self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
            elif data.get("method") == "Runtime.exceptionThrown":
                self.console.append("exception: " + json.dumps(data["params"]["exceptionDetails"])[:500])

    async def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        key = next(self._ids)
        message: dict[str, Any] = {"id": key, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        future = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        await self.ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(future, 15)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    async def open(self, url: str) -> None:
        target = await self.send("Target.createTarget", {"url": url}, session=False)
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                                   session=False)
        self.session = attached["sessionId"]
        await self.send("Runtime.enable")
        await self.until("document.readyState === 'complete' && !!document.getElementById('call')", 15)

    async def js(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                      "awaitPromise": True, "userGesture": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def until(self, expression: str, timeout_s: float) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            value = await self.js(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                page = await self.js(PAGE)
                raise AssertionError(f"page never showed `{expression}` in {timeout_s} s.\npage: {page}\n"
                                     f"console: {self.console[-20:]}")
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        try:
            await self.send("Browser.close", session=False)
        except Exception:  # noqa: BLE001 - it may already be gone
            pass
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()
        await self.http.close()


PAGE = """JSON.stringify({
  status: document.getElementById('status').textContent,
  transcript: document.getElementById('transcript').textContent,
  intent: document.getElementById('intent').textContent,
  answer: document.getElementById('answer').textContent,
  faq: document.getElementById('faq').textContent,
  transfer: document.getElementById('transfer').hidden ? '' : document.getElementById('transfer').textContent,
  ended: document.getElementById('ended').hidden ? '' : document.getElementById('ended').textContent,
  handoff: document.getElementById('handoff').hidden ? null : {
    reason: document.getElementById('handoff-reason').textContent,
    faq: document.getElementById('handoff-faq').textContent,
    summary: document.getElementById('handoff-summary').textContent,
    call: document.getElementById('handoff-call').textContent},
  log: Array.from(document.querySelectorAll('#log li')).map(li => li.textContent),
  stats: window.callStats,
})"""


async def test_chromium_hears_a_real_recording_shows_the_answer_and_the_transfer_to_branch_5(gateway, tmp_path):
    browser = await Browser.launch(tmp_path, fake_microphone(tmp_path / "question.wav"))
    try:
        await browser.open(gateway.server.address + "/")
        assert await browser.js("document.getElementById('call').textContent") == "Gọi"
        await browser.js("document.getElementById('call').click()")
        await browser.until("document.getElementById('call').textContent === 'Kết thúc'", 15)
        # The caller's words, the recognised intent and the bot's answer appear on the page.
        await browser.until("document.getElementById('transcript').textContent.includes('tương tự')", 40)
        await browser.until("document.getElementById('intent').textContent !== '—'", 10)
        await browser.until(f"document.getElementById('answer').textContent.startsWith({json.dumps(ANSWER.answer[:60])})",
                            10)
        await asyncio.sleep(1.0)  # the answer is being played
        before_key = json.loads(await browser.js(PAGE))
        # Keypad 0: the announcement, then the transfer to the human branch, then the end.
        await browser.js("document.querySelector('#keypad [data-digit=\"0\"]').click()")
        await browser.until("document.getElementById('transfer').textContent.includes('Đang chuyển sang nhánh 5')", 30)
        await browser.until("!document.getElementById('handoff').hidden", 15)
        await browser.until("!document.getElementById('ended').hidden", 15)
        page = json.loads(await browser.js(PAGE))
    finally:
        await browser.close()

    assert "áp dụng" in page["transcript"]
    assert page["intent"].startswith("faq") and "(99%)" in page["intent"]
    assert ANSWER.id in before_key["faq"]
    # The microphone's audio went out, and the bot's voice came back and was scheduled for playback.
    assert before_key["stats"]["sent"] > 100 and before_key["stats"]["played"] > 50
    assert Reason.KEYPAD.label in page["transfer"] and "nhánh 5 tiếp nhận" in page["transfer"]
    # What the agent at branch 5 would be told: the reason, the entry recognised, the caller's words.
    handoff = page["handoff"]
    assert handoff["reason"] == f"{Reason.KEYPAD.label} (keypad)"
    assert handoff["faq"] == f"{ANSWER.question} ({ANSWER.id})"
    assert "áp dụng" in handoff["summary"] and handoff["summary"] in page["transcript"].replace("\n", " ")
    assert len(handoff["call"]) == 16
    assert page["ended"].startswith("Cuộc gọi đã kết thúc") and "nhánh 5" in page["ended"]
    assert page["status"] == "Cuộc gọi đã kết thúc."
    assert any(line == "Anh chị bấm phím 0" for line in page["log"])
    assert gateway.host.calls == {}
