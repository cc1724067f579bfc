"""The safety net's thresholds (actions/nlu/danger.py): put through at `threshold`, asked from
`ask_threshold`, and from the lower `unanswered_ask_threshold` when the FAQ has no answer for the
turn (the caller would otherwise hear "no information")."""
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
