"""The espeak-ng engine, with the real program (a system package: `make install-system`)."""
from __future__ import annotations

import stat
import time
from pathlib import Path

import numpy as np
import pytest

from bot.tts import TtsError, TtsUnavailable
from bot.tts.espeak import EspeakEngine
from bot.text import syllables

SENTENCE = "Lao động tự do được hỗ trợ một triệu năm trăm nghìn đồng."


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))


async def test_synthesis_is_mono_int16_speech_at_the_declared_rate():
    engine = EspeakEngine()
    audio = await engine.synth(SENTENCE)
    assert audio.dtype == np.int16 and audio.ndim == 1
    assert engine.sample_rate == 22050
    assert rms(audio) > 500  # speech, not silence


async def test_duration_is_plausible_for_the_text_length():
    engine = EspeakEngine()
    n = syllables(SENTENCE)  # 13
    seconds = len(await engine.synth(SENTENCE)) / engine.sample_rate
    # 120 syllables a minute is 0.5 s each; allow a wide band plus the trailing pause.
    assert 0.25 * n < seconds < 0.7 * n + 0.5
    longer = len(await engine.synth(SENTENCE + " " + SENTENCE)) / engine.sample_rate
    assert 1.7 * seconds < longer < 2.3 * seconds


async def test_speed_changes_the_duration():
    slow = await EspeakEngine(speed=100).synth(SENTENCE)
    fast = await EspeakEngine(speed=200).synth(SENTENCE)
    assert len(slow) > 1.5 * len(fast)


async def test_text_that_looks_like_an_option_is_spoken_not_parsed():
    audio = await EspeakEngine().synth("--help xin chào")
    assert len(audio) > 0.5 * 22050


async def test_empty_text_gives_empty_audio():
    assert (await EspeakEngine().synth("  ")).size == 0


def test_voice_key_names_the_settings_that_change_the_audio():
    keys = {EspeakEngine().voice_key, EspeakEngine(voice="vi").voice_key, EspeakEngine(speed=150).voice_key,
            EspeakEngine(pitch=40).voice_key}
    assert len(keys) == 4
    assert EspeakEngine().voice_key == "espeak-ng:vi+f2:s120:p-"


async def test_a_word_gap_lengthens_speech_and_is_part_of_the_key():
    plain, gapped, wider = EspeakEngine(), EspeakEngine(gap=5), EspeakEngine(gap=10)
    sizes = [(await e.synth(SENTENCE)).size / e.sample_rate for e in (plain, gapped, wider)]
    # 11 gaps of 10 ms units (stretched at speeds below espeak's 175): at least 0.3 s more per 5 units
    assert sizes[0] + 0.3 < sizes[1] < sizes[2] - 0.3, sizes
    assert gapped.voice_key == plain.voice_key + ":g5"  # no gap keeps the old key: old caches stay valid


def test_missing_program_is_a_clear_error():
    with pytest.raises(TtsUnavailable, match="espeak-ng-missing.*not found.*apt-get install espeak-ng"):
        EspeakEngine(binary="espeak-ng-missing")


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-espeak"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


async def test_a_hanging_synthesiser_times_out(tmp_path: Path):
    engine = EspeakEngine(binary=_script(tmp_path, "exec sleep 30"), timeout_s=0.5)
    started = time.perf_counter()
    with pytest.raises(TtsError, match="took more than 0.5 s"):
        await engine.synth("xin chào")
    assert time.perf_counter() - started < 5


async def test_a_failing_synthesiser_is_an_error(tmp_path: Path):
    engine = EspeakEngine(binary=_script(tmp_path, "echo 'voice not found' >&2; exit 1"))
    with pytest.raises(TtsError, match="voice not found"):
        await engine.synth("xin chào")


async def test_garbage_output_is_an_error(tmp_path: Path):
    engine = EspeakEngine(binary=_script(tmp_path, "cat >/dev/null; echo not a wav"))
    with pytest.raises(TtsError, match="no readable WAV"):
        await engine.synth("xin chào")
