"""The editors' concepts (data/faq/concepts.yml, written to Rasa as lookup tables) as features of
the brain's classifier: a sentence that says one of a concept's words gets the concept's name as one
more word ("tôi chạy xe ba gác" -> "... khainiem_nghe_tu_do").

Why: callers name their situation in words no example has ("cày thuê", "xe ba gác", "cửu vạn");
with the concept's name beside every listed word, the model learns what the concept means from the
examples that have any of its words, and a word an editor adds to the list counts the same at the
next training, without examples of its own. The name is added, not put in place of the words
(measured on the callers' dev splits: slightly better garbled, the same as written). Words are
found by the safety net's rules (bot/phrases.py), so a word without diacritics or heard with the
line's merges counts too.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

from bot.phrases import PhraseIndex, syllables, typed_bare

PREFIX = "khainiem_"


class ConceptTagger:
    def __init__(self, concepts: Mapping[str, Sequence[str]]) -> None:
        self.concepts: Dict[str, List[str]] = {name: list(words) for name, words in concepts.items() if words}
        self._indexes = [(name, PhraseIndex(words)) for name, words in self.concepts.items()]

    def found(self, text: str) -> List[str]:
        """The concepts whose words `text` says, in the editors' order."""
        words = syllables(text)
        if not words or not self._indexes:
            return []
        bare = typed_bare(words)
        return [name for name, index in self._indexes if index.said(words, bare)]

    def tag(self, text: str) -> str:
        names = self.found(text)
        return " ".join([text, *(PREFIX + name for name in names)]) if names else text


def lookup_tables(tables: Sequence[Mapping]) -> Dict[str, List[str]]:
    """Rasa's `TrainingData.lookup_tables` ({"name", "elements"}) as concept -> words."""
    out: Dict[str, List[str]] = {}
    for table in tables:
        elements = table.get("elements")
        if isinstance(elements, str):  # a file name in old Rasa formats: not how we write them
            continue
        out.setdefault(str(table["name"]), []).extend(str(e) for e in elements or [])
    return out
