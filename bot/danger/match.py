"""Find danger in a caller's words, as typed or as the recogniser heard them over a phone line.

The matching rules (tone marks, northern merges, text typed without diacritics, one wrong tone,
one extra word) are bot/phrases.py's, shared with the brain's concepts.
A match that overlaps one of the kind's exceptions, follows a negation ("không khó thở") or is
denied ("cấp cứu gì đâu") does not count; a weak phrase does not count in a
sentence that asks about support ("tiền cấp cứu có được hỗ trợ không"), and a strong one there is
marked `asking`: the caller is asked whether they are in danger rather than put through at once.
Asking words count unless a change of topic ("à mà khoan") comes between them and the danger.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

from bot.danger.model import DangerKind, DangerNet
from bot.phrases import PhraseIndex, syllables, typed_bare


@dataclass(frozen=True)
class DangerMatch:
    kind: DangerKind
    phrase: str  # the editors' phrase that matched
    heard: str  # the caller's words it matched
    weak: bool
    # The sentence also asks about support or tells of the past ("bị ngộ độc tháng trước, bảo
    # hiểm có trả không"): maybe someone telling of danger, not in it. Asked, not put through.
    asking: bool = False


class DangerMatcher:
    @classmethod
    def shared(cls, net: DangerNet) -> DangerMatcher:
        """One matcher per loaded net, shared by every call: building one costs ~20 ms of CPU,
        which ten calls starting together paid on the event loop (frames 0.2 s late, measured)."""
        matcher = _SHARED.get(net)
        if matcher is None:
            matcher = _SHARED[net] = cls(net)
        return matcher

    def __init__(self, net: DangerNet) -> None:
        self.net = net
        self._asking = PhraseIndex(net.asking)
        self._negations = PhraseIndex(net.negations)
        self._denials = PhraseIndex(net.denials)
        self._topic_changes = PhraseIndex(net.topic_changes)
        self._kinds = [(k, PhraseIndex(k.phrases), PhraseIndex(k.weak_phrases), PhraseIndex(k.exceptions))
                       for k in net.kinds]

    def find(self, text: str) -> DangerMatch | None:
        """The first kind of danger (in the editors' order) the caller's words show, or None."""
        words = syllables(text)
        if not words:
            return None
        bare_mode = typed_bare(words)
        asking_at: list[tuple[int, int]] | None = None  # computed only when a phrase matches
        changes_at: list[tuple[int, int]] = []
        for kind, strong, weak, exceptions in self._kinds:
            excepted: list[tuple[int, int]] | None = None  # computed only when a phrase is said
            for index, is_weak in ((strong, False), (weak, True)):
                for phrase, (a, b) in index.said(words, bare_mode):
                    if excepted is None:
                        excepted = [span for _, span in exceptions.said(words, bare_mode)]
                    if any(a < end and start < b for start, end in excepted):
                        continue
                    if self._negations.said_just_before(words, a, bare_mode) or \
                            self._denials.said_just_after(words, b, bare_mode):
                        continue
                    if asking_at is None:
                        asking_at, changes_at = self._asking_spans(words, bare_mode)
                    asking = _asks_about(asking_at, changes_at, a)
                    if is_weak and asking:
                        break
                    return DangerMatch(kind, phrase.text, " ".join(w.text for w in words[a:b]), is_weak, asking)
        return None

    def asks(self, text: str) -> bool:
        """The caller's words ask about support or tell of the past (after any change of topic)."""
        words = syllables(text)
        if not words:
            return False
        return _asks_about(*self._asking_spans(words, typed_bare(words)), len(words))

    def _asking_spans(self, words: list, bare_mode: bool) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Where asking words and changes of topic are said (changes looked for only if asked)."""
        asking_at = self._asking.said_everywhere(words, bare_mode)
        return asking_at, self._topic_changes.said_everywhere(words, bare_mode) if asking_at else []


def _asks_about(asking_at: list[tuple[int, int]], changes_at: list[tuple[int, int]], danger_at: int) -> bool:
    """Asking words count from the last change of topic before the danger words on (asking words
    after the danger still count: "bị ngộ độc tháng trước, bảo hiểm có trả không")."""
    since = max((end for _, end in changes_at if end <= danger_at), default=0)
    return any(start >= since for start, _ in asking_at)


# Keyed by the net object itself (weakly): a reloaded danger.yml is a new net and gets its own.
_SHARED: weakref.WeakKeyDictionary[DangerNet, DangerMatcher] = weakref.WeakKeyDictionary()
