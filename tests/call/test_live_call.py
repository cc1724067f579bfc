"""Live calls in real time through `CallHost`, as a transport drives them: several calls at once
on the real engines (recognition in worker threads), a stand-in peer and a keyword brain."""
from __future__ import annotations

import asyncio
import json

from bot.call.handoff import Handoff
from bot.call.session import call_config
from bot.call.virtual_clock import caller_audio
from bot.gateway.host import CallHost
from tests.call.conftest import speech
from tests.conftest import needs_speech
from tests.fakes import ANSWER, CallerLine, KeywordBrain, RecordingPeer, one_call, until

pytestmark = needs_speech


async def wait_for(call, kind: str, timeout_s: float = 30.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        found = [e for e in call.events if e["event"] == kind]
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} event within {timeout_s} s: {[e['event'] for e in call.events]}")


async def test_four_calls_at_once_answer_transfer_refused_transfer_and_dead_line(engines, settings, tmp_path):
    s = settings.replace(privacy={"records_dir": str(tmp_path / "records")}, gateway={"media_timeout_s": 2.0})
    host = CallHost(s, engines, KeywordBrain(), call_config(s))
    answered, refused, handed_over, dead = RecordingPeer(), RecordingPeer("refused"), RecordingPeer(), RecordingPeer()
    calls = [host.open_call(answered, "0912345678"), host.open_call(refused, "0987654321"),
             host.open_call(handed_over), host.open_call(dead)]
    runs = [asyncio.create_task(c.run()) for c in calls]
    lines = [CallerLine(c) for c in calls[:3]]  # the fourth line is dead: not a single packet
    try:
        await asyncio.sleep(0.5)
        # Callers B and C press keys: 0 = human (transfer refused), 3 = doctors (handed over).
        calls[1].dtmf("0")
        calls[2].dtmf("3")
        # Caller A barges into the greeting with a question, hears the answer start, hangs up.
        await lines[0].say(caller_audio(speech("vieneu/ly_female_north.wav"), 8000))
        await wait_for(calls[0], "answer")
        await asyncio.sleep(1.0)
        assert answered.voiced_ms() > 0
        lines[0].hang_up()
        summaries = await asyncio.wait_for(asyncio.gather(*runs), 90)
    finally:
        for r in runs:
            r.cancel()
        for line in lines:
            line.hang_up()
        await host.aclose()

    by_call = {c.call_id: c for c in calls}
    assert summaries[0].outcome == "answered" and summaries[0].answers == [ANSWER.id]
    assert any(e["event"] == "caller_text" for e in calls[0].events)
    assert answered.transfers == [] and answered.hangups == []  # the caller hung up, not the bot

    assert refused.transfers == [5]  # the announcement played, then the transport was asked
    texts = [e["text"] for e in calls[1].events if e["event"] == "bot_say"]
    assert any("không hai bốn một không hai hai" in t for t in texts)  # tells the number to dial
    assert refused.hangups == ["transfer_failed:refused"]

    assert handed_over.transfers == [3] and handed_over.hangups == []
    # What the agent is told goes to the transport with the transfer (bot/call/handoff.py).
    assert handed_over.handoffs == [Handoff(calls[2].call_id, 3, "keypad")]
    assert calls[2].handoff == handed_over.handoffs[0]
    assert summaries[2].outcome == "transferred" and summaries[2].branch == 3

    assert summaries[3].outcome == "abandoned"  # no audio at all: ended by the media timeout
    assert host.calls == {}

    # Every call left one record, with the caller's number masked.
    records = [json.loads(line) for line in (tmp_path / "records").glob("*.jsonl").__next__().read_text().splitlines()]
    assert sorted(r["call_id"] for r in records) == sorted(by_call)
    assert {r["caller"] for r in records} >= {"091****678", "098****321"}
    assert "0912345678" not in json.dumps(records)


async def test_outgoing_audio_keeps_its_20_ms_pace_while_others_are_recognised(engines, settings, tmp_path):
    """Two callers talk non-stop while a third listens to the greeting: its frames keep coming."""
    s = settings.replace(privacy={"records_dir": str(tmp_path / "records")})
    host = CallHost(s, engines, KeywordBrain(), call_config(s))
    talkers, listener = [RecordingPeer(), RecordingPeer()], RecordingPeer()
    calls = [host.open_call(p) for p in [*talkers, listener]]
    runs = [asyncio.create_task(c.run()) for c in calls]
    lines = [CallerLine(c) for c in calls]
    audio = caller_audio(speech("vieneu/ly_female_north.wav"), 8000)
    await asyncio.gather(*(line.say(audio) for line in lines[:2]))
    for line in lines:
        line.hang_up()
    await asyncio.wait_for(asyncio.gather(*runs), 30)
    await host.aclose()
    seconds = audio.size / 8000
    # ~50 frames per second reached the listener's transport (greeting audio, then silence slots).
    assert len(listener.frames) >= 0.9 * 50 * seconds
    assert listener.voiced_ms() > 0.9 * 1000 * seconds  # the greeting is longer than the recording


async def test_a_key_pressed_before_the_greeting_is_ready_is_not_lost(engines, settings, tmp_path):
    """The greeting is synthesised live (empty cache): a key pressed at once still counts."""
    import dataclasses

    from bot.tts.cache import PromptCache

    cold = dataclasses.replace(engines, cache=PromptCache.for_engine(engines.tts, tmp_path / "cold"))
    s = settings.replace(privacy={"records_dir": str(tmp_path / "records")})
    host = CallHost(s, cold, KeywordBrain(), call_config(s))
    try:
        summary, peer, _ = await one_call(host, "4", before_start=True)  # before the call has even started
    finally:
        await host.aclose()
    assert peer.transfers == [4] and summary.outcome == "transferred"


class ThreadRecordingEngine:
    """Wraps a real recogniser and notes which thread touches each stream (native recognisers
    are not thread-safe: vietasr crashed when two threads shared one model)."""

    def __init__(self, engine) -> None:
        self._engine = engine
        self.threads: dict[int, set[int]] = {}  # stream id -> threads that touched it
        self.model_threads: set[int] = set()
        self.sample_rate, self.capabilities, self.name = engine.sample_rate, engine.capabilities, engine.name

    def stream(self, grammar=None):
        import threading

        inner = self._engine.stream(grammar)
        seen = self.threads.setdefault(id(inner), set())
        self.model_threads.add(threading.get_ident())

        class Stream:
            def __getattr__(self, name):
                def call(*args):
                    seen.add(threading.get_ident())
                    return getattr(inner, name)(*args)
                return call
        return Stream()

    def close(self) -> None:
        pass


async def test_each_recogniser_is_only_ever_touched_by_its_own_worker_thread(engines, settings, tmp_path):
    import dataclasses

    from bot.asr.registry import make_asr

    first = ThreadRecordingEngine(engines.asr)
    second = ThreadRecordingEngine(make_asr("vietasr"))
    s = settings.replace(privacy={"records_dir": str(tmp_path / "records")}, gateway={"asr_workers": 2})
    host = CallHost(s, dataclasses.replace(engines, asr=first), KeywordBrain(), call_config(s),
                    asr_factory=lambda: second)
    calls = [host.open_call(RecordingPeer()) for _ in range(4)]
    runs = [asyncio.create_task(c.run()) for c in calls]
    lines = [CallerLine(c) for c in calls]
    audio = caller_audio(speech("vieneu/ly_female_north.wav"), 8000)
    await asyncio.gather(*(line.say(audio) for line in lines))
    for line in lines:
        line.hang_up()
    await asyncio.wait_for(asyncio.gather(*runs), 30)
    await host.aclose()
    for engine in (first, second):
        assert len(engine.threads) == 2  # the four calls were shared out between the two workers
        touched = set().union(*engine.threads.values()) | engine.model_threads
        assert len(touched) == 1  # every stream made, fed and freed on one thread per model
    assert first.model_threads != second.model_threads


class BrokenRecogniser:
    """A recogniser whose streams cannot be made (a model that failed to load, a dead worker)."""

    name, sample_rate = "broken", 8000

    def stream(self, grammar=None):
        raise RuntimeError("the model did not load")


async def test_a_call_without_a_recogniser_hears_an_apology_and_goes_to_a_person(engines, settings, tmp_path):
    """Never silence on the line: no recogniser for the call, the caller is put through."""
    import dataclasses

    s = settings.replace(privacy={"records_dir": str(tmp_path / "records")}, gateway={"asr_workers": 1})
    host = CallHost(s, dataclasses.replace(engines, asr=BrokenRecogniser()), KeywordBrain(), call_config(s))
    try:
        summary, peer, call = await one_call(host)
    finally:
        await host.aclose()
    human = s.dialogue.human_branch
    assert peer.transfers == [human] and summary.outcome == "transferred"
    assert summary.reason.startswith("engine_failed:asr")
    assert peer.voiced_ms() > 0  # the apology was spoken
    assert [e["event"] for e in call.events].count("engine_error") == 1
    records = list((tmp_path / "records").glob("*.jsonl"))
    assert records and json.loads(records[0].read_text().splitlines()[-1])["summary"]["outcome"] == "transferred"


async def test_a_slow_policy_step_does_not_hold_up_the_calls_frames(engines, settings, tmp_path, monkeypatch):
    """What follows a slot's frame (here a tick that takes 0.3 s, as a prompt's voice may) runs on
    its own task: the call's frames keep their pace meanwhile (they used to wait for it)."""
    from bot.call.session import CallSession

    s = settings.replace(privacy={"records_dir": str(tmp_path / "records")})
    host = CallHost(s, engines, KeywordBrain(), call_config(s))
    sent: list[float] = []

    class TimedPeer(RecordingPeer):
        async def send_audio(self, frame):
            sent.append(asyncio.get_running_loop().time())
            await super().send_audio(frame)

    original, slowed = CallSession.tick, []

    async def slow_tick(self, t_ms: float) -> None:
        if not slowed:
            slowed.append(t_ms)
            await asyncio.sleep(0.3)
        await original(self, t_ms)

    monkeypatch.setattr(CallSession, "tick", slow_tick)
    peer = TimedPeer()
    call = host.open_call(peer)
    run = asyncio.create_task(call.run())
    line = CallerLine(call)
    try:
        await until(lambda: len(sent) > 60, "60 frames sent", 30.0)
    finally:
        line.hang_up()
        await asyncio.wait_for(run, 30)
        await host.aclose()
    assert slowed, "no tick was taken"
    during = [b - a for a, b in zip(sent, sent[1:]) if a < sent[0] + 0.8]
    assert len(during) >= 30 and max(during) < 0.15, max(during)
