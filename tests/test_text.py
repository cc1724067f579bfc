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
