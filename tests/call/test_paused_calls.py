"""A caller who pauses in mid-question gets one answer to the whole question (issue 15).

Whole calls through the real recogniser, Silero VAD and the Smart Turn model, with the keyword
brain (tests/fakes.py): a real recording with a pause put at its quietest point near the middle
(bench/paused.py, heard through 8 kHz µ-law), against the same recording said in one go.
"""
from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from bench.paused import RATE, Recording, paused
from bot.audio.files import write_wav
from bot.call.events import to_json
from bot.call.records import CallRecorder
from bot.call.session import CallSession, call_config
from bot.call.virtual_clock import VirtualClock, parse_script, run_call
from bot.vad.smart_turn import load_turn_model
from tests.call.conftest import CallResult, speech
from tests.conftest import ROOT, needs_speech
from tests.fakes import KeywordBrain

pytestmark = needs_speech
MODEL = ROOT / "models/smart-turn/smart-turn-v3.2-cpu.onnx"
RECORDING = "vieneu/ly_female_north.wav"  # "Chúng ta có thể áp dụng logic tương tự với người khác."


@pytest.fixture(scope="module")
def turn_engines(engines):
    model = load_turn_model(MODEL)
    if model is None:
        pytest.skip(f"{MODEL} is missing: scripts/install-turn-model.sh (make install) provides it")
    return dataclasses.replace(engines, turn_model=model)


def paused_file(tmp_path: Path, gap_s: float) -> str:
    q = paused(Recording(Path(speech(RECORDING)), "", "dev"), gap_s)
    path = tmp_path / f"paused-{gap_s}.wav"
    write_wav(path, q.audio, RATE)
    return str(path)


def records(result) -> list[dict]:
    (path,) = result.record_dir.glob("*.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("gap_s", [0.6, 1.0, 1.4])
async def test_a_paused_question_is_answered_once_whole(engines, settings, tmp_path, gap_s):
    """The default settings (settings.yml): a short end pause, and mending."""
    await _answered_once_whole(engines, settings, tmp_path, gap_s)


async def test_with_the_turn_model_a_paused_question_is_answered_once_whole(turn_engines, settings, tmp_path):
    """The turn model asked at the short pause, an unfinished turn held up to 800 ms, mending after."""
    with_model = settings.replace(voice={"hold_pause_ms": 800})
    await _answered_once_whole(turn_engines, with_model, tmp_path, 1.0)


async def _answered_once_whole(engines, settings, tmp_path: Path, gap_s: float) -> None:
    whole_brain = KeywordBrain()
    await _call(engines, settings, [speech(RECORDING)], whole_brain, tmp_path / "whole")
    (whole,) = whole_brain.asked
    brain = KeywordBrain()
    result = await _call(engines, settings, [paused_file(tmp_path, gap_s)], brain, tmp_path / "paused")
    question = brain.asked[-1]
    assert len(question.split()) >= 0.8 * len(whole.split())  # the brain heard the whole question
    assert result.summary["turns"] == 1 and result.summary["answers"] == ["hongheo_muc_ho_tro"]
    # `bot call` and the record show the question once, whole.
    texts = [e for e in records(result)[0]["events"] if e["event"] == "caller_text"]
    assert [e["text"] for e in texts] == [question]


async def test_the_old_turn_taking_splits_the_same_question(engines, settings, tmp_path):
    """What the issue reported: 350 ms of silence alone ends the turn, the fragment is answered."""
    brain = KeywordBrain()
    old = settings.replace(voice={"mend_window_s": 0.0, "end_pause_ms": 350})
    await _call(engines, old, [paused_file(tmp_path, 0.8)], brain, tmp_path / "old")
    assert len(brain.asked) == 2  # the fragment, then the rest without it


async def _call(engines, settings, script, brain, record_dir: Path) -> CallResult:
    events: list[dict] = []
    config = call_config(settings)
    clock = VirtualClock()
    call_id = f"t-{uuid.uuid4().hex[:8]}"
    recorder = CallRecorder(record_dir, call_id, "0912345678", True)
    session = CallSession(call_id, engines, brain, config, clock, events.append, recorder)
    audio: list[np.ndarray] = []
    summary = await run_call(session, parse_script(script), clock, config.rate, bot_audio=audio, max_s=120)
    return CallResult(events, to_json(summary), np.concatenate(audio), record_dir)
