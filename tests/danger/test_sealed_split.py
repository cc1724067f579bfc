"""The sealed safety split (data/eval/danger_test.yml) measures callers the model has never seen:
none of its sentences may sit in the training material, word for word. Short ones (three words
or fewer) are let through: "cháy rồi" is an editors' phrase as well as a caller's whole turn."""
from __future__ import annotations

import yaml

from bot.content.load import load_knowledge_base
from bot.text import comparable
from tests.conftest import ROOT


def training_sentences() -> dict[str, str]:
    """Every sentence the brain trains on, by its comparable key, with where it comes from."""
    kb, problems = load_knowledge_base(ROOT / "data/faq")
    assert kb is not None and kb.danger is not None, [str(p) for p in problems]
    sources = [(f"faq {f.id}", f.examples) for f in kb.faqs]
    sources += [(f"intent {i.id}", i.examples) for i in kb.intents]
    sources += [(f"danger {k.id}", k.examples) for k in kb.danger.kinds]
    sources += [("not_danger", kb.danger.not_danger),
                ("everyday", (ROOT / "data/everyday/sentences.txt").read_text(encoding="utf-8").splitlines())]
    return {comparable(text): where for where, texts in sources for text in texts}


def test_no_sealed_sentence_is_training_material():
    split = yaml.safe_load((ROOT / "data/eval/danger_test.yml").read_text(encoding="utf-8"))
    sealed = {comparable(item["text"]) for items in split.values() if isinstance(items, list) for item in items}
    training = training_sentences()
    found = [training[k] for k in sealed if len(k.split()) > 3 and k in training]
    assert not found, f"sealed test sentences in the training material (remove them there): {found}"
