"""The word check: which differences flag a take (numbers, clauses, far off) and which do not."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.audio.files import read_audio
from bot.studio.wordcheck import MAX_CER, PhoneTranscriber, compare
from tests.conftest import SPEECH, needs_speech

TEXT = "Lao động tự do được hỗ trợ một triệu năm trăm nghìn đồng, nộp hồ sơ tại ủy ban nhân dân phường."


def test_the_same_words_pass_whatever_the_case_and_punctuation():
    check = compare(TEXT, TEXT.lower().replace(",", "").replace(".", ""))
    assert check.ok and check.cer == 0 and check.differences == ()


def test_a_misheard_tone_is_shown_but_does_not_flag_the_take():
    check = compare(TEXT, TEXT.replace("nộp", "nốp").replace("phường", "phương"))
    assert check.ok and check.reason == ""
    assert [(d.kind, d.expected, d.heard, d.serious) for d in check.differences] == [
        ("wrong", "nộp", "nốp", False), ("wrong", "phường", "phương", False)]


def test_a_different_amount_flags_the_take_and_says_where():
    check = compare(TEXT, TEXT.replace("năm trăm", "ba trăm"))
    assert not check.ok and "số" in check.reason
    assert [(d.expected, d.heard, d.serious) for d in check.differences] == [("năm", "ba", True)]
    assert check.cer < MAX_CER  # small by characters: the CER alone would have let it through


def test_a_missing_number_word_flags_the_take():
    check = compare(TEXT, TEXT.replace(" năm trăm nghìn", " nghìn"))
    assert not check.ok and [d.kind for d in check.differences] == ["missing"]


def test_a_skipped_clause_flags_the_take():
    check = compare(TEXT, TEXT.split(",")[0])
    assert not check.ok and "thiếu" in check.reason
    assert check.differences[-1].kind == "missing" and check.differences[-1].expected.startswith("nộp hồ sơ")


def test_two_missing_words_alone_are_tolerated_as_recogniser_slips():
    check = compare(TEXT, TEXT.replace("tự do ", ""))
    assert check.ok and [d.kind for d in check.differences] == ["missing"]


def test_another_sentence_is_far_off():
    check = compare(TEXT, "Chúng ta có thể áp dụng logic tương tự với người khác.")
    assert not check.ok and check.cer > MAX_CER


def test_a_text_without_words_is_a_programming_error():
    with pytest.raises(ValueError):
        compare("...", "anything")


def _transcripts() -> dict[str, str]:
    rows = (SPEECH / "vieneu/transcripts.tsv").read_text(encoding="utf-8").splitlines()
    return dict(row.split("\t", 1) for row in rows)


@needs_speech
def test_a_real_recording_matches_its_own_text_over_the_phone_line_and_not_another():
    from bot.asr.registry import make_asr

    texts = _transcripts()
    pcm, rate = read_audio(Path(SPEECH / "vieneu/ly_female_north.wav"))
    transcriber = PhoneTranscriber(lambda: make_asr("vietasr"))
    try:
        right = transcriber.check(texts["ly_female_north.wav"], pcm, rate)
        wrong = transcriber.check(texts["tuyen_male_north.wav"], pcm, rate)
    finally:
        transcriber.close()
    assert right.ok and right.cer < 0.1 and "áp dụng" in right.heard
    assert not wrong.ok and wrong.cer > MAX_CER and wrong.heard == right.heard
