"""The recogniser round trip: scoring, the phone line in between, and (real engines) that it
tells a voice a caller can follow from one they cannot."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bot.asr.base import AsrEngine, AsrStream, Capabilities
from bot.audio.files import read_audio
from bot.audio.phone import PHONE_RATE, through_phone_line
from bot.tts.roundtrip import heard_cer, round_trip, text_cer
from tests.conftest import SPEECH, needs_speech


class ScriptedAsr(AsrEngine):
    """Returns a fixed transcript and keeps what it was given, to check what it was fed."""

    name = "scripted"
    sample_rate = 16000
    capabilities = Capabilities(streaming=False, partials=False, grammar=False)

    def __init__(self, transcript: str) -> None:
        self.transcript = transcript
        self.fed: list[tuple[np.ndarray, int]] = []

    def stream(self, grammar=None) -> AsrStream:
        raise AssertionError("round trips transcribe whole utterances")

    def transcribe(self, samples: np.ndarray, rate: int) -> str:
        self.fed.append((samples.copy(), rate))
        return self.transcript


def tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


def test_text_cer_ignores_case_punctuation_and_spacing_runs():
    assert text_cer("Xin chào, anh chị.", "xin  chào anh chị") == 0.0


def test_text_cer_counts_character_edits_against_the_text():
    # "một" vs "mốt": one edit in the 12 characters of "hai mươi một"
    assert text_cer("hai mươi một", "hai mươi mốt") == pytest.approx(1 / 12)
    assert text_cer("hai mươi một", "") == 1.0


def test_text_cer_is_capped_at_one_when_the_transcript_is_mostly_insertions():
    assert text_cer("vâng", "vâng ạ tôi xin nhắc lại toàn bộ câu trả lời") == 1.0


def test_text_cer_refuses_a_text_without_words():
    with pytest.raises(ValueError):
        text_cer(" ... ", "gì đó")


def test_the_recogniser_hears_the_phone_line_not_the_studio_audio():
    asr = ScriptedAsr("xin chào")
    audio = tone(0.5, 22050)
    trip = round_trip(audio, 22050, "Xin chào.", asr)
    (fed, rate), = asr.fed
    assert rate == PHONE_RATE and len(fed) == 4000  # 0.5 s at 8 kHz
    assert np.array_equal(fed, through_phone_line(audio, 22050))  # µ-law, not the clean signal
    assert trip.cer == 0.0 and trip.heard == "xin chào" and trip.seconds == pytest.approx(0.5)


def test_heard_cer_is_the_round_trips_cer():
    asr = ScriptedAsr("anh chị bấm phím một")
    assert heard_cer(tone(0.2, 8000), 8000, "Anh chị bấm phím không.", asr) == pytest.approx(
        text_cer("Anh chị bấm phím không.", "anh chị bấm phím một"))


def test_silence_is_heard_as_nothing_without_asking_the_recogniser():
    asr = ScriptedAsr("should not be asked")
    trip = round_trip(np.zeros(0, dtype=np.int16), 8000, "Vâng ạ.", asr)
    assert trip.cer == 1.0 and trip.heard == "" and asr.fed == []


def test_audio_must_be_int16_mono():
    with pytest.raises(TypeError):
        round_trip(np.zeros((10, 2), dtype=np.int16), 8000, "a", ScriptedAsr(""))


# ── real engines ─────────────────────────────────────────────────────────────────────────

@pytest.fixture(scope="module")
def vietasr():
    from bot.asr.registry import make_asr

    engine = make_asr("vietasr")
    yield engine
    engine.close()


@needs_speech
def test_a_person_reading_the_text_reads_back_closely_and_a_wrong_text_does_not(vietasr):
    # What the studio relies on: a take that says the sentence scores low, one that says
    # something else scores high.
    lines = (SPEECH / "vieneu" / "transcripts.tsv").read_text(encoding="utf-8").splitlines()
    (name, text), (_, other) = (line.split("\t", 1) for line in lines[:2])
    audio, rate = read_audio(SPEECH / "vieneu" / name)
    right = round_trip(audio, rate, text, vietasr)
    assert right.cer < 0.2, right
    assert heard_cer(audio, rate, other, vietasr) > right.cer + 0.4


def test_espeak_is_heard_better_than_noise_and_scored_against_its_own_text(vietasr):
    from bot.tts.espeak import EspeakEngine

    engine = EspeakEngine()
    text = "Anh chị bấm phím không để gặp tổng đài viên."
    audio = asyncio.run(engine.synth(text))
    said = round_trip(audio, engine.sample_rate, text, vietasr)
    noise = np.random.default_rng(0).normal(0, 3000, audio.size).clip(-32767, 32767).astype(np.int16)
    assert said.cer < 0.8, said  # espeak is robotic, but the recogniser makes out much of it
    assert round_trip(noise, engine.sample_rate, text, vietasr).cer > said.cer
