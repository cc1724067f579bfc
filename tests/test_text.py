import pytest

from bot.text import comparable, sentences, strip_diacritics, syllables


def test_strip_diacritics_handles_d_stroke_and_tones():
    assert strip_diacritics("Đường dây một không hai hai") == "Duong day mot khong hai hai"
    assert strip_diacritics("hỗ trợ lao động tự do") == "ho tro lao dong tu do"


def test_comparable_ignores_case_punctuation_and_spacing():
    assert comparable("Alo,  Chị ơi!") == comparable("alo chị ơi")


def test_sentences_and_syllables():
    parts = sentences("Câu một ngắn. Câu hai dài hơn một chút! Câu ba?")
    assert len(parts) == 3
    assert syllables(parts[1]) == 6


@pytest.mark.parametrize("text, listening", [
    ("dạ", True), ("Vâng ạ.", True), ("da", True), ("dà", True), ("ừ ừ", True), ("thế à", True),
    ("dạ cho em hỏi", False), ("vâng tôi muốn hỏi tiếp", False), ("không", False), ("", False),
])
def test_a_backchannel_is_only_a_listeners_word(text, listening):
    from bot.text import is_backchannel

    assert is_backchannel(text) is listening
