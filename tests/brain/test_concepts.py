"""The editors' concepts as the classifier sees them (actions/nlu/concepts.py): a concept's name is
added when its words are said, as written, typed without diacritics, or heard with the line's merges."""
from __future__ import annotations

from actions.nlu.concepts import PREFIX, ConceptTagger, lookup_tables
from bot.content.load import load_knowledge_base
from tests.conftest import ROOT

TAGGER = ConceptTagger({"nghe_tu_do": ["xe ôm", "bốc vác", "cửu vạn"], "con_nho": ["con nhỏ"]})


def test_the_name_is_added_as_written_bare_and_garbled():
    assert TAGGER.tag("tôi chạy xe ôm ở Đống Đa") == f"tôi chạy xe ôm ở Đống Đa {PREFIX}nghe_tu_do"
    assert TAGGER.found("toi boc vac o cho") == ["nghe_tu_do"]
    assert TAGGER.found("tôi làm cửu vạng ở chợ") == ["nghe_tu_do"]  # final n/ng merged by the line
    assert TAGGER.found("chạy xe ôm mà có con nhỏ") == ["nghe_tu_do", "con_nho"]


def test_nothing_is_added_without_the_words():
    assert TAGGER.tag("hộ nghèo được bao nhiêu") == "hộ nghèo được bao nhiêu"
    assert TAGGER.found("") == [] and ConceptTagger({}).tag("xe ôm") == "xe ôm"
    assert TAGGER.found("xe ổm") == []  # a two-word phrase allows no wrong tone


def test_rasa_lookup_tables_and_the_shipped_concepts():
    assert lookup_tables([{"name": "a", "elements": ["x y"]}, {"name": "a", "elements": ["z w"]},
                          {"name": "old", "elements": "file.txt"}]) == {"a": ["x y", "z w"]}
    kb, _ = load_knowledge_base(ROOT / "data/faq")
    shipped = ConceptTagger({c.id: c.words for c in kb.concepts})
    assert shipped.found("bác đi cày thuê gặt thuê cho người ta") == ["nghe_tu_do"]
    assert shipped.found("nhà tôi hộ cận nghèo có được tiền không") == []
