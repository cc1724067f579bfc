"""The sealed safety splits (data/eval/danger_test2.yml, danger_test3.yml, danger_test4.yml, the story pieces of
danger_multi_test.yml, the test half of danger_turns.yml) measure callers the model has never
seen: none of their sentences may sit in the training material, word for word. Short ones are
let through: "cháy rồi" is an editors' phrase as well as a caller's whole turn."""
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


# (file, fewest words that count, the sealed part or None for the whole file)
SEALED = (("danger_test2.yml", 4, None), ("danger_test3.yml", 4, None), ("danger_test4.yml", 4, None),
          ("danger_multi_test.yml", 5, None),
          ("danger_turns.yml", 5, "test"))


def sealed_sentences() -> set[str]:
    """The sealed sentences of four words or more (danger_test2.yml to danger_test4.yml), and the
    story pieces and ordinary turns of five or more (danger_multi_test.yml, the test half of
    danger_turns.yml: a four-word piece is often a stock reply to the bot, such as "tôi chưa
    nghe kịp", which the `repeat` intent rightly trains on)."""
    out: set[str] = set()
    for name, words, part in SEALED:
        split = yaml.safe_load((ROOT / "data/eval" / name).read_text(encoding="utf-8"))
        for key, items in split.items():
            for item in items if isinstance(items, list) and part in (None, key) else []:
                texts = (comparable(t) for t in item.get("turns") or [item["text"]])
                out.update(t for t in texts if len(t.split()) >= words)
    return out


def test_no_sealed_sentence_is_training_material():
    training = training_sentences()
    found = [training[k] for k in sealed_sentences() if k in training]
    assert not found, f"sealed test sentences in the training material (remove them there): {found}"
