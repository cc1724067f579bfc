"""The studio in a real headless Chromium whose fake microphone plays a real recording.

An editor changes the greeting's text to what the recording says (in a copy of the knowledge
base), logs in, records a take with the microphone (MediaRecorder, WebM/Opus), sees it pass the
checks, accepts it, and the next simulated call plays it. A file whose words do not match,
uploaded through the page, is flagged with the differing words and cannot be accepted without
the override. When the greeting's text changes again, the recording is stale and the call falls
back to the synthetic voice.
"""
from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from bot.audio.files import read_audio
from bot.tts.texts import split_sentences
from tests.conftest import SPEECH, needs_speech
from tests.studio.conftest import EDITOR, PASSWORD, set_prompt, transcript
from tests.transports.web.test_browser import CHROMIUM, Browser

pytestmark = [needs_speech, pytest.mark.skipif(CHROMIUM is None, reason=(
    "needs a Chromium/Chrome binary on PATH (Debian: apt-get install chromium) for the real-browser test"))]

MATCHING = "vieneu/ly_female_north.wav"
OTHER = "vieneu/tuyen_male_north.wav"


class StudioBrowser(Browser):
    """The web page test's Chromium driver; when a wait fails it shows the studio's state."""

    async def until(self, expression: str, timeout_s: float) -> object:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                value = await self.js(expression)
            except RuntimeError:  # between two documents (a navigation): ask the next one
                value = None
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                page = await self.js(STATE)
                raise AssertionError(f"page never showed `{expression}` in {timeout_s} s.\npage: {page}\n"
                                     f"console: {self.console[-20:]}")
            await asyncio.sleep(0.2)


STATE = """JSON.stringify({
  url: location.href,
  message: (document.getElementById('message') || {}).textContent,
  takeStatus: (document.getElementById('take-status') || {}).textContent,
  take: window.studio && window.studio.take,
})"""


def fake_microphone(path: Path) -> tuple[Path, float]:
    """The recording with 0.5 s of silence before and a long silence after (Chromium loops the
    file): 16-bit PCM WAV as Chromium wants. Returns the file and how long to record."""
    pcm, rate = read_audio(SPEECH / MATCHING)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.concatenate([np.zeros(rate // 2, np.int16), pcm, np.zeros(30 * rate, np.int16)]).tobytes())
    return path, 0.5 + pcm.size / rate + 0.8


async def open_page(browser: StudioBrowser, url: str) -> None:
    target = await browser.send("Target.createTarget", {"url": url}, session=False)
    attached = await browser.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                                  session=False)
    browser.session = attached["sessionId"]
    await browser.send("Runtime.enable")
    await browser.until("location.protocol === 'http:' && document.readyState === 'complete'", 15)


async def upload_file(browser: StudioBrowser, selector: str, path: Path) -> None:
    """What choosing a file in the page's file dialog does (DevTools sets the input's files)."""
    document = await browser.send("DOM.getDocument")
    node = await browser.send("DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": selector})
    await browser.send("DOM.setFileInputFiles", {"files": [str(path)], "nodeId": node["nodeId"]})


def status_of(rid: str) -> str:
    return f"(window.studio.sentences.find(s => s.id === {json.dumps(rid)}) || {{}}).status"


def contains(audio: np.ndarray, part: np.ndarray) -> bool:
    """`part` appears in `audio` sample for sample, starting on a 20 ms frame."""
    return any(np.array_equal(audio[i:i + part.size], part) for i in range(0, audio.size - part.size + 1, 160))


async def test_an_editor_records_the_greeting_in_chromium_and_the_next_call_hears_it(studio, editor, tmp_path):
    greeting = transcript(MATCHING)
    set_prompt(studio.content, "greeting", greeting)
    microphone, record_s = fake_microphone(tmp_path / "microphone.wav")
    browser = await StudioBrowser.launch(tmp_path, microphone)
    try:
        # Not logged in: the studio's address shows the login form, not the studio.
        await open_page(browser, studio.base + "/")
        assert await browser.js("location.pathname") == "/studio/login"
        assert await browser.js("document.getElementById('groups')") is None
        await browser.js(f"document.getElementById('user').value = {json.dumps(EDITOR)}")
        await browser.js(f"document.getElementById('password').value = {json.dumps(PASSWORD)}")
        await browser.js("document.getElementById('login').click()")
        await browser.until("location.pathname === '/studio/' && window.studio && window.studio.ready === true", 30)
        assert await browser.js(status_of("greeting")) == "synthetic"

        # Record the greeting from the microphone.
        await browser.js("document.querySelector('li[data-id=\"greeting\"]').click()")
        await browser.until("document.getElementById('sentence-id').textContent === 'greeting'", 5)
        await browser.js("document.getElementById('record').click()")
        await browser.until("document.getElementById('record').classList.contains('on')", 10)
        await asyncio.sleep(record_s)
        await browser.js("document.getElementById('record').click()")
        await browser.until("!document.getElementById('report').hidden", 60)
        take = await browser.js("window.studio.take")
        assert take["report"]["format"] == "webm" and take["report"]["flags"] == []
        assert take["report"]["words"]["ok"], take["report"]["words"]
        assert take["needs_override"] is False
        assert await browser.js("document.getElementById('words-verdict').className") == "verdict-ok"
        assert await browser.js("document.getElementById('accept').disabled") is False
        # The take can be heard as a caller would: 8 kHz WAV from the studio.
        assert await browser.js(f"fetch('{studio.base}/api/takes/{take['take']}.wav').then(r => r.status)") == 200

        await browser.js("document.getElementById('accept').click()")
        await browser.until(f"{status_of('greeting')} === 'current'", 20)
        assert "Đã đưa bản thu lên tổng đài" in await browser.js("document.getElementById('message').textContent")

        # The next call: the greeting is the editor's take, not the synthetic voice.
        events, audio, voice = await studio.call(tmp_path)
        says = [e for e in events if e["event"] == "bot_say"]
        assert says[0]["text"] == greeting
        live, _ = read_audio(studio.recordings / "greeting.wav", 8000)
        assert contains(audio, live) and voice.calls == []

        # A take that says something else, uploaded as a file: flagged, words shown, not acceptable as is.
        await upload_file(browser, "#upload", SPEECH / OTHER)
        await browser.until("window.studio.take && !document.getElementById('report').hidden", 60)
        words = await browser.js("window.studio.take.report.words")
        assert words["ok"] is False and words["differences"]
        assert await browser.js("document.getElementById('words-verdict').className") == "verdict-bad"
        assert await browser.js("document.querySelectorAll('#words-expected .wrong, #words-expected .missing').length") > 0
        assert "khúc cây" in await browser.js("document.getElementById('words-heard').textContent")
        assert await browser.js("document.getElementById('accept').disabled") is True
        assert await browser.js("document.getElementById('override-box').hidden") is False
        await browser.js("document.getElementById('override').click()")
        assert await browser.js("document.getElementById('accept').disabled") is False  # only now, explicitly
        await browser.js("document.getElementById('override').click()")

        # The editors change the greeting's text: the recording is stale, callers get the synthetic voice.
        set_prompt(studio.content, "greeting", "Xin chào, đây là tổng đài một không hai hai của Hà Nội.")
        await browser.js("window.before_reload = true; location.reload()")
        await browser.until("!window.before_reload && window.studio && window.studio.ready === true", 30)
        assert await browser.js(status_of("greeting")) == "stale"
    finally:
        await browser.close()

    events, audio, voice = await studio.call(tmp_path)
    assert next(e for e in events if e["event"] == "bot_say")["text"].startswith("Xin chào, đây là tổng đài")
    assert voice.calls == list(split_sentences("Xin chào, đây là tổng đài một không hai hai của Hà Nội."))
    assert not contains(audio, live)
    assert (studio.recordings / "greeting.wav").exists()  # kept: it plays again if the text comes back
