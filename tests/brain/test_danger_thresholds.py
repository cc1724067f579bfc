"""The safety net's thresholds (actions/nlu/danger.py): put through at `threshold`, asked from
`ask_threshold`, and from the lower `unanswered_ask_threshold` when the FAQ has no answer for the
turn (the caller would otherwise hear "no information"); the model alone puts a caller through
only on a turn of `put_min_words` or more, and asks only on one of `ask_min_words` or more. With
the turns before (the brain channel's metadata): a turn that is danger only on its own, not after
the caller's unanswered words, is asked about; so is one right after a "không" to the question;
in words that tell of the past the model alone puts through only at `asking_threshold`."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.brain.rasa_probe import run_probe


@pytest.fixture(scope="module")
def decided() -> dict:
    return run_probe(Path(__file__).with_name("danger_probe.py"))


def test_below_both_ask_thresholds_nothing_is_suspected(decided):
    assert decided["0.1"] == [None, None]


def test_between_them_only_an_unanswered_turn_is_asked_about(decided):
    answered, unanswered = decided["0.17"]
    assert answered is None
    assert unanswered is not None and unanswered[0] == "fire" and unanswered[2] == "model"


def test_above_ask_threshold_both_are_suspected_and_above_threshold_put_through(decided):
    for p in ("0.3", "0.6"):
        assert all(found is not None and found[0] == "fire" for found in decided[p])
    assert decided["0.6"][0][1] >= 0.5 > decided["0.3"][0][1]


def test_the_model_alone_puts_through_only_a_long_enough_turn(decided):
    decide = decided["decide"]
    assert decide["chuyện nhà tôi dài lắm cô ạ|0.6"] == "danger"        # 7 words, sure
    assert decide["chuyện nhà tôi dài lắm cô ạ|0.3"] == "danger_check"  # 7 words, a suspicion
    assert decide["để tôi nghĩ đã|0.6"] == "danger_check"               # 4 words: asked instead
    assert decide["để tôi nghĩ đã|0.3"] is None                         # too short to ask about


def test_an_editors_phrase_puts_a_short_turn_through(decided):
    assert decided["decide"]["phrase"] == "danger"


def test_a_piece_of_a_story_about_the_past_is_asked_about_not_put_through(decided):
    story = decided["story"]
    assert story["alone"] == "danger"
    assert story["after the past"] == "danger_check"
    assert story["after other words"] == "danger"


def test_after_a_no_to_the_question_the_caller_is_asked_again(decided):
    assert decided["story"]["after a no"] == "danger_check"


def test_the_model_alone_in_past_words_puts_through_only_when_very_sure(decided):
    for told in ("năm ngoái tôi bị một thằng say rượu nó đâm", "hồi tháng hai nhà tôi bị chập điện cháy mất gian bếp"):
        assert (decided["past"][f"{told}|0.6"], decided["past"][f"{told}|0.9"]) == ("danger_check", "danger"), told
