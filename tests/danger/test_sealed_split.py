"""The sealed safety split (data/eval/danger_test.yml) measures callers the model has never seen:
none of its sentences may sit in the training material, word for word. Short ones (three words
or fewer) are let through: "cháy rồi" is an editors' phrase as well as a caller's whole turn."""
from __future__ import annotations

import re

import yaml

from bot.text import nfc
from tests.conftest import ROOT

TRAINING = ("data/faq/danger.yml", "data/faq/intents.yml", "data/everyday/sentences.txt")


def _key(text: str) -> str:
    return " ".join(re.findall(r"\w+", nfc(text).lower()))


def test_no_sealed_sentence_is_training_material():
    split = yaml.safe_load((ROOT / "data/eval/danger_test.yml").read_text(encoding="utf-8"))
    sealed = {_key(item["text"]) for items in split.values() if isinstance(items, list) for item in items}
    sealed = {k for k in sealed if len(k.split()) > 3}
    found = []
    for name in TRAINING:
        for number, line in enumerate((ROOT / name).read_text(encoding="utf-8").splitlines(), 1):
            if _key(line.strip().lstrip("-").strip().strip('"')) in sealed:
                found.append(f"{name}:{number}")
    assert not found, f"sealed test sentences in the training material (remove them there): {found}"
