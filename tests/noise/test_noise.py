"""The noise channel learnt from the recogniser: alignment, counting, syllable parts, garbling."""
from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import yaml

from bot.content.load import load_knowledge_base
from bot.noise.learn import align, count
from bot.noise.learned import TABLE, LearnedChannel
from bot.noise.syllable import Parts, split

ROOT = Path(__file__).resolve().parents[2]
SPEECH = ROOT.parent / "shared" / "speech"


def test_alignment_pairs_lost_added_and_wrong_syllables() -> None:
    ref = "cho tôi hỏi tiền hỗ trợ".split()
    hyp = "cho hỏi tiền hổ trợ à".split()
    assert align(ref, hyp) == [("cho", "cho"), ("tôi", None), ("hỏi", "hỏi"), ("tiền", "tiền"),
                               ("hỗ", "hổ"), ("trợ", "trợ"), (None, "à")]


def test_counts_say_which_parts_the_recogniser_changed() -> None:
    table = count([("trời mưa to", "chời mưa"), ("lao động", "lao đông"), ("hỏi", "hỏi thêm")])
    assert (table["syllables"], table["right"], table["wrong"], table["lost"], table["added"]) == (6, 3, 2, 1, 1)
    assert table["initial"] == {"tr -> ch": 1}
    assert table["tone"] == {"nang -> ngang": 1}
    assert table["changed"] == {"initial": 1, "tone": 1}


def test_every_syllable_of_the_knowledge_base_splits_and_spells_back() -> None:
    kb, _ = load_knowledge_base(ROOT / "data/faq")
    words = {w for faq in kb.faqs for text in (faq.answer, *faq.examples) for w in re.findall(r"\w+", text.lower())
             if not w.isdigit()}
    assert len(words) > 500
    # The parts always spell back to the same parts; the letters too, except where Vietnamese has
    # two accepted places for the tone mark ("hóa" / "hoá": the old placement is written back).
    assert not [w for w in words if split(split(w).spell()) != split(w)]
    other_placement = {w for w in words if split(w).rhyme in ("oa", "oe", "uy")}
    wrong = sorted(w for w in words - other_placement if split(w).spell() != w)
    assert not wrong, wrong[:20]


def test_parts_spell_a_changed_tone_on_the_right_vowel() -> None:
    assert Parts("ng", "ươi", "sac").spell() == "người".replace("ờ", "ớ")
    assert Parts("h", "oa", "nang").spell() == "họa"
    assert Parts("ng", "oai", "huyen").spell() == "ngoài"
    assert Parts("qu", "ôc", "nang").spell() == "quộc"


def test_learned_channel_follows_the_measured_rates() -> None:
    table = {"syllables": 100, "wrong": 10, "lost": 5, "changed": {"tone": 1},
             "tone": {"ngang -> sac": 1}, "initial": {}, "rhyme": {}}
    channel = LearnedChannel(table, severity=1.0, northern=0.0)
    rng = random.Random(3)
    sentence = "ba ba ba ba ba ba ba ba ba ba"
    heard = [channel.garble(sentence, rng).split() for _ in range(400)]
    words = sum(len(h) for h in heard)
    lost = 4000 - words
    assert 120 < lost < 290  # 5 % of 4000 syllables = 200
    changed = sum(w != "ba" for h in heard for w in h)
    assert all(w in ("ba", "bá") for h in heard for w in h)  # only the measured change: ngang -> sắc
    assert 280 < changed < 520  # 10 % = 400 (of the syllables not lost)


def test_learned_channel_is_deterministic_for_a_seed() -> None:
    channel = LearnedChannel.measured()
    text = "cho tôi hỏi người lao động tự do có được hỗ trợ không"
    assert channel.garble(text, random.Random(5)) == channel.garble(text, random.Random(5))


def test_the_committed_table_is_the_recognisers_measurement() -> None:
    table = yaml.safe_load(TABLE.read_text(encoding="utf-8"))
    assert table["syllables"] == table["right"] + table["wrong"] + table["lost"]
    assert sum(table["changed"].values()) == table["wrong"]


def test_learning_from_real_recordings_counts_every_reference_syllable() -> None:
    if not (SPEECH / "vivos" / "transcripts.tsv").exists():
        pytest.skip(f"no recordings in {SPEECH} (../shared is absent)")
    from bot.asr.registry import make_asr
    from bot.asr.metrics import normalise
    from bot.noise import learn

    lines = [line for folder in learn.FOLDERS
             for line in (SPEECH / folder / "transcripts.tsv").read_text(encoding="utf-8").splitlines()[:3]]
    engine = make_asr("vietasr", None)
    try:
        pairs = learn.transcribe(SPEECH, engine, limit=3)
    finally:
        engine.close()
    assert [ref for ref, _ in pairs] == [line.split("\t", 1)[1] for line in lines]
    table = count(pairs)
    assert table["syllables"] == sum(len(normalise(ref).split()) for ref, _ in pairs)
    assert table["right"] > table["syllables"] / 2  # a working recogniser, not an empty one
