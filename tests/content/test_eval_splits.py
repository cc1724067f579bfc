"""The benchmark splits name real labels: an entry renamed or removed in the knowledge base must
not silently turn a split's questions into mistakes (or drop them from the figures)."""
from __future__ import annotations

import pytest
import yaml

from bench.brain import BENEFITS, load_benefits
from bot.content.load import load_knowledge_base
from tests.conftest import ROOT

# The danger splits and the benefits split have shapes of their own (sections, not dev/test).
SPLITS = sorted(p for p in (ROOT / "data/eval").glob("*.yml")
                if not p.name.startswith("danger_") and p != ROOT / BENEFITS)


def known_labels() -> set[str]:
    kb, _ = load_knowledge_base(ROOT / "data/faq")
    return {f"faq/{f.id}" for f in kb.faqs} | {i.id for i in kb.intents}


@pytest.mark.parametrize("path", SPLITS, ids=lambda p: p.name)
def test_every_label_of_a_split_is_in_the_knowledge_base(path):
    known = known_labels()
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # A sealed test split, or a second writer's split for tuning only (dev).
    assert set(data) in ({"dev", "test"}, {"dev"}), f"{path.name}: splits {sorted(data)}"
    for split in data:
        items = data[split]
        assert items, f"{path.name}: {split} is empty"
        unknown = sorted({i["label"] for i in items} - known)
        assert not unknown, f"{path.name} {split}: labels not in data/faq: {unknown}"
        assert all(str(i["text"]).strip() for i in items)


def test_the_benefits_split_names_real_entries():
    sections = load_benefits(ROOT / BENEFITS)
    assert sections["other_benefit"] and sections["covid_lookalike"]
    unknown = sorted({i["label"] for items in sections.values() for i in items} - known_labels())
    assert not unknown, f"{BENEFITS}: labels not in data/faq: {unknown}"
