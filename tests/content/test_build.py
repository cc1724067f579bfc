import yaml

import dataclasses

from bot.content.build import domain_yaml, nlu_concepts_yaml, nlu_faq_yaml, nlu_intents_yaml, write_rasa_files
from bot.content.load import load_knowledge_base
from bot.content.model import BRANCH_WORDS
from tests.conftest import ROOT


def kb():
    loaded, problems = load_knowledge_base(ROOT / "data/faq")
    assert loaded is not None, problems
    return loaded


def test_every_faq_becomes_a_retrieval_intent_with_diacritic_free_copies():
    knowledge = kb()
    nlu = yaml.safe_load(nlu_faq_yaml(knowledge))["nlu"]
    by_intent = {block["intent"]: block["examples"] for block in nlu}
    assert set(by_intent) == {f"faq/{f.id}" for f in knowledge.faqs}
    examples = by_intent["faq/ldtd_muc_ho_tro"]
    assert "- lao động tự do được hỗ trợ bao nhiêu tiền" in examples
    assert "- lao dong tu do duoc ho tro bao nhieu tien" in examples


def test_intents_are_generated_with_their_examples():
    nlu = yaml.safe_load(nlu_intents_yaml(kb()))["nlu"]
    names = [block["intent"] for block in nlu]
    assert "emergency" in names and "out_of_scope" in names
    emergency = next(b for b in nlu if b["intent"] == "emergency")["examples"]
    assert "- cap cuu" in emergency  # diacritic-free copy of "cấp cứu"


def test_domain_responses_carry_the_verified_flag():
    knowledge = kb()
    responses = yaml.safe_load(domain_yaml(knowledge))["responses"]
    for faq in knowledge.faqs:
        variant = responses[f"utter_faq/{faq.id}"][0]
        assert variant["text"] == faq.answer
        assert variant["metadata"]["verified"] is faq.verified
    assert "utter_prompt_rephrase" in responses and "utter_emergency" in responses


def test_write_rasa_files(tmp_path):
    paths = write_rasa_files(kb(), tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in paths} == {
        "data/nlu/generated_faq.yml", "data/nlu/generated_intents.yml", "data/nlu/generated_concepts.yml",
        "domain/generated.yml"}
    for path in paths:
        assert yaml.safe_load(path.read_text(encoding="utf-8"))


def test_concepts_become_rasa_lookup_tables():
    knowledge = kb()
    nlu = yaml.safe_load(nlu_concepts_yaml(knowledge))["nlu"]
    tables = {block["lookup"]: block["examples"] for block in nlu}
    assert set(tables) == {c.id for c in knowledge.concepts} and "nghe_tu_do" in tables
    assert "- xe ôm\n" in tables["nghe_tu_do"]
    empty = yaml.safe_load(nlu_concepts_yaml(dataclasses.replace(knowledge, concepts=())))
    assert empty["nlu"] == []  # Rasa reads an empty list; no file left over from an older build


def test_replies_that_answer_nothing_tell_a_caller_in_danger_the_emergency_key():
    """A caller in danger whom the safety net missed hears "not understood" or "no information";
    both must name the key of the emergency branch (meta.yml), so they can still reach it at once."""
    knowledge = kb()
    key = next(b for b, name in knowledge.branches.items() if "cấp cứu" in name.lower())
    hint = f"Nếu anh chị đang gặp nguy hiểm, xin bấm phím {BRANCH_WORDS[key]}."
    assert hint in knowledge.prompts["rephrase"]
    assert hint in knowledge.intent("out_of_scope").response
