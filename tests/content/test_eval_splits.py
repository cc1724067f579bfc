"""The benchmark splits name real labels: an entry renamed or removed in the knowledge base must
not silently turn a split's questions into mistakes (or drop them from the figures)."""
from __future__ import annotations

import pytest
import yaml

from bot.content.load import load_knowledge_base
from tests.conftest import ROOT

SPLITS = sorted(p for p in (ROOT / "data/eval").glob("*.yml") if not p.name.startswith("danger_"))


@pytest.mark.parametrize("path", SPLITS, ids=lambda p: p.name)
def test_every_label_of_a_split_is_in_the_knowledge_base(path):
    kb, _ = load_knowledge_base(ROOT / "data/faq")
    known = {f"faq/{f.id}" for f in kb.faqs} | {i.id for i in kb.intents}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # A sealed test split, or a second writer's split for tuning only (dev).
    assert set(data) in ({"dev", "test"}, {"dev"}), f"{path.name}: splits {sorted(data)}"
    for split in data:
        items = data[split]
        assert items, f"{path.name}: {split} is empty"
        unknown = sorted({i["label"] for i in items} - known)
        assert not unknown, f"{path.name} {split}: labels not in data/faq: {unknown}"
        assert all(str(i["text"]).strip() for i in items)
