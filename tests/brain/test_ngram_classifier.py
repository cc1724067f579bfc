"""The brain's n-gram classifier (actions/nlu/ngram_classifier.py) on a tiny knowledge base, trained and
reloaded through Rasa's own model storage in the Rasa environment. The behaviour of the real
model is tested through the running brain (test_dialogue.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.brain.rasa_probe import run_probe


@pytest.fixture(scope="module")
def probe() -> dict:
    return run_probe(Path(__file__).with_name("ngram_probe.py"))


def test_picks_the_entry_with_and_without_diacritics_and_in_decomposed_unicode(probe):
    got = [(p["intent"]["name"], ((p["response_selector"] or {}).get("faq") or {}).get("response", {})
            .get("intent_response_key")) for p in probe["parses"]]
    assert got[0] == ("faq", "faq/ho_ngheo")
    assert got[1] == ("faq", "faq/ho_ngheo")
    assert got[2] == got[3] == ("faq", "faq/buu_dien")
    assert probe["parses"][2]["intent"] == probe["parses"][3]["intent"]  # NFD reads like NFC
    assert got[4][0] == "out_of_scope"
    assert got[5][0] == "greet"


def test_output_is_rasas_format_with_consistent_confidences(probe):
    for parse in probe["parses"]:
        ranking = parse["intent_ranking"]
        confidences = [r["confidence"] for r in ranking]
        assert confidences == sorted(confidences, reverse=True)
        assert parse["intent"] == ranking[0]
        assert {r["name"] for r in ranking} == {"faq", "out_of_scope", "greet"}
        faq = parse["response_selector"]["faq"]
        entries = [r["confidence"] for r in faq["ranking"]]
        assert abs(sum(entries) - 1.0) < 1e-6  # each entry's share among the FAQ entries
        assert faq["response"]["confidence"] == entries[0]
        assert faq["response"]["utter_action"] == "utter_" + faq["response"]["intent_response_key"]
        # `faq` in the intent ranking is its best entry's probability, not the sum over entries:
        # with every label's probability positive, the ranking then sums to less than one.
        assert sum(confidences) < 1.0 - 1e-6


def test_training_is_deterministic_and_saved_without_pickles(probe):
    assert probe["same_weights_twice"]
    assert probe["files"] == ["meta.json", "weights.npz"]


def test_an_untrained_classifier_leaves_messages_alone(probe):
    assert probe["untrained_intent"] is None


def test_a_damaged_model_fails_to_load_instead_of_answering_nothing(probe):
    # The swap route then refuses it and the previous model keeps serving (test_cli_and_swap.py).
    assert probe["damaged_model"] == "JSONDecodeError"


def test_the_live_path_computes_what_the_trained_matrices_do(probe):
    # The per-sentence path skips scikit-learn's transform for latency; it must not change a number.
    assert probe["fast_against_sparse"] < 1e-9


def test_a_word_only_in_an_editors_concept_counts_like_the_concepts_examples(probe):
    """concepts.yml: "đồng nát" and "cửu vạn" (typed bare) are in no example, only in the concept's
    list; trained with the concept, the questions go to the entry whose examples name other jobs of
    the concept, and the concept is kept in the saved model (these predictions are after loading)."""
    with_concept, without = probe["concepts"]["with"], probe["concepts"]["without"]
    assert with_concept["best"] == ["faq/tu_do", "faq/tu_do"]
    assert with_concept["saved_concepts"] == ["nghe_tu_do"] and without["saved_concepts"] == []
    for p_with, p_without in zip(with_concept["p"], without["p"]):
        assert p_with > p_without + 0.1
