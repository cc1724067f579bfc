"""A take accepted while a call is in progress: the call goes on, and its next sentence is the take."""
from __future__ import annotations

import asyncio

import numpy as np

from bot.audio.files import read_audio
from tests.conftest import SPEECH, needs_speech
from tests.fakes import ANSWER, CallerLine, RecordingPeer
from tests.studio.conftest import EDITOR, PASSWORD, client, log_in


def contains(audio: np.ndarray, part: np.ndarray) -> bool:
    return any(np.array_equal(audio[i:i + part.size], part) for i in range(0, audio.size - part.size + 1, 160))


def bot_audio(peer: RecordingPeer) -> np.ndarray:
    voiced = [f.samples for f in peer.frames if f is not None]
    return np.concatenate(voiced) if voiced else np.zeros(0, np.int16)


async def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


@needs_speech
async def test_a_take_accepted_during_a_call_is_its_next_sentence_and_the_call_goes_on(studio, editor):
    events: list[dict] = []
    peer = RecordingPeer()
    call = studio.host.open_call(peer, caller="", on_event=events.append)
    running = asyncio.create_task(call.run())
    line = CallerLine(call)
    try:
        await wait_for(lambda: any(e["event"] == "bot_say" for e in events), 10, "the greeting")
        # While the greeting plays, an editor puts a take on the line for the answer this caller
        # is about to get (its words differ from the answer: accepted with the override).
        async with client() as http:
            assert (await log_in(http, studio.base, EDITOR, PASSWORD)).status == 303
            headers = {"X-CSRF-Token": (await (await http.get(studio.base + "/api/session")).json())["csrf"]}
            take = await (await http.post(f"{studio.base}/api/sentences/{ANSWER.id}/takes",
                                          data=(SPEECH / "vieneu/ly_female_north.wav").read_bytes(),
                                          headers=headers)).json()
            r = await http.post(f"{studio.base}/api/takes/{take['take']}/accept", json={"override": True},
                                headers=headers)
            assert r.status == 200
        assert not running.done()
        live, _ = read_audio(studio.recordings / f"{ANSWER.id}.wav", 8000)

        # The caller asks (over the greeting); the answer is the take, then the synthetic prompt.
        studio.engines.asr.transcripts.append("hộ nghèo được hỗ trợ bao nhiêu")
        await line.say((3000 * np.sin(2 * np.pi * 300 * np.arange(8000) / 8000)).astype(np.int16))
        await wait_for(lambda: contains(bot_audio(peer), live), 30, "the take on the line")
        line.hang_up()
        summary = await asyncio.wait_for(running, 10)
    finally:
        if not running.done():
            line.hang_up()
            await asyncio.wait_for(running, 10)
    says = [e["text"] for e in events if e["event"] == "bot_say"]
    assert says[0] == studio.kb().prompt("greeting") and says[1].startswith(ANSWER.answer)
    assert not [e for e in events if e["event"] in ("transfer", "engine_failed")], events
    assert (summary.outcome, summary.reason, summary.answers) == ("answered", "caller_hung_up", [ANSWER.id])
