"""A live call's caller audio through its playout (bot/audio/jitter.py), on stand-in engines: a line
that stops sending still ends the caller's turn by the clock, whatever the transport; packets
out of order reach recognition in order; the media timeout counts real packets, not the silence
the playout makes up."""
from __future__ import annotations

import asyncio

import numpy as np

from bot.audio.frames import AudioFrame
from bot.call.session import call_config
from bot.gateway.host import CallHost
from tests.fakes import ANSWER, KeywordBrain, RecordingPeer, fake_engines, recogniser_factory

LOUD = AudioFrame.from_samples(np.full(160, 3000, np.int16), 8000)  # speech to the stand-in VAD


async def speak(call, seconds: float, rtp: bool) -> None:
    """The caller talks for `seconds`, a frame every 20 ms (with RTP numbers when `rtp`), then the
    line sends nothing at all: silence suppression, or an AudioSocket/browser stream that stops."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for k in range(int(seconds / 0.02)):
        if rtp:
            call.audio(LOUD, seq=(65530 + k) % 65536, ts=160 * k, marker=k == 0)
        else:
            call.audio(LOUD)
        await asyncio.sleep(max(0.0, start + (k + 1) * 0.02 - loop.time()))


async def until(predicate, timeout_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(0.02)


async def one_call(tmp_path, rtp: bool):
    engines = fake_engines(tmp_path / "prompts", transcripts=["hộ nghèo được hỗ trợ bao nhiêu"])
    from bot.config import load_settings

    s = load_settings().replace(privacy={"records_dir": str(tmp_path / "records")},
                                gateway={"media_timeout_s": 2.0})
    host = CallHost(s, engines, KeywordBrain(), call_config(s), asr_factory=recogniser_factory(engines))
    peer = RecordingPeer()
    call = host.open_call(peer)
    run = asyncio.create_task(call.run())
    return host, call, run


async def test_a_stream_that_stops_after_the_question_is_answered_and_the_dead_line_then_ends(tmp_path):
    for rtp in (False, True):  # AudioSocket / browser (in order, no numbers) and RTP
        host, call, run = await one_call(tmp_path / str(rtp), rtp)
        try:
            await asyncio.sleep(0.2)
            await speak(call, 1.0, rtp)
            # Nothing more arrives; the turn still ends (no hang-up, no more packets).
            await until(lambda: any(e["event"] == "answer" for e in call.events), 10, "the answer")
            assert not call._hung_up
            answer = next(e for e in call.events if e["event"] == "answer")
            assert answer["faq_id"] == ANSWER.id
            assert call.playout.stats.silent > 0 and call.playout.stats.played == 50
            # The playout keeps making silence, but the line is dead: the media timeout ends the call.
            summary = await asyncio.wait_for(run, 30)
            assert summary.answers == [ANSWER.id]
            assert [e for e in call.events if e["event"] == "hangup"][-1]["by"] == "caller"
        finally:
            run.cancel()
            await host.aclose()


async def test_rtp_out_of_order_with_a_duplicate_reaches_recognition_in_order(tmp_path):
    host, call, run = await one_call(tmp_path, rtp=True)
    heard: list[int] = []
    try:
        await asyncio.sleep(0.2)
        real = call.session._hearing.feed_many  # what recognition is handed, in order

        def spy(frames):
            heard.extend(int(f.samples[0]) for f, _ in frames if f.samples.any())
            return real(frames)

        call.session._hearing.feed_many = spy
        frames = [AudioFrame.from_samples(np.full(160, 100 * (k + 1), np.int16), 8000) for k in range(6)]
        for k in [0, 2, 1, 3, 5, 4, 4]:
            call.audio(frames[k], seq=(65534 + k) % 65536, ts=160 * k)
        await until(lambda: len(heard) >= 6, 3, "six frames heard")
        assert heard == [100, 200, 300, 400, 500, 600]
        assert call.playout.stats.duplicates == 1
    finally:
        call.hung_up()
        await asyncio.wait_for(run, 30)
        await host.aclose()
