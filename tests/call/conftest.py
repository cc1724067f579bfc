"""Real engines (vietasr, Silero, espeak-ng) loaded once, and a helper that runs a whole call."""
from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from bot.call.events import to_json
from bot.call.records import CallRecorder
from bot.call.session import CallSession, Engines, call_config
from bot.call.virtual_clock import VirtualClock, parse_script, run_call
from tests.conftest import SPEECH
from tests.fakes import KB  # noqa: F401  (tests import the knowledge base from here too)


@pytest.fixture(scope="session")
def engines(tmp_path_factory) -> Engines:
    from bot.asr.registry import make_asr
    from bot.tts import make_tts
    from bot.tts.cache import PromptCache
    from bot.vad.silero_onnx import SileroOnnxVad

    tts = make_tts("espeak")
    cache = PromptCache.for_engine(tts, tmp_path_factory.mktemp("prompts"))
    return Engines(asr=make_asr("vietasr"), tts=tts, cache=cache, vad=SileroOnnxVad, kb=KB)


class CallResult:
    def __init__(self, events: list[dict], summary: dict, bot_audio: np.ndarray, record_dir: Path) -> None:
        self.events, self.summary, self.bot_audio, self.record_dir = events, summary, bot_audio, record_dir

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["event"] == kind]


@pytest.fixture
def call(engines, settings, tmp_path):
    async def run(script: list[str], brain, keep_transcripts: bool = False, **config_changes) -> CallResult:
        events: list[dict] = []
        config = call_config(settings.replace(**config_changes) if config_changes else settings)
        clock = VirtualClock()
        call_id = f"t-{uuid.uuid4().hex[:8]}"
        recorder = CallRecorder(tmp_path / "records", call_id, "0912345678", keep_transcripts)
        session = CallSession(call_id, engines, brain, config, clock, events.append, recorder)
        audio: list[np.ndarray] = []
        summary = await run_call(session, parse_script(script), clock, config.rate, bot_audio=audio, max_s=900)
        return CallResult(events, to_json(summary), np.concatenate(audio), tmp_path / "records")
    return run


def speech(name: str) -> str:
    return str(SPEECH / name)
