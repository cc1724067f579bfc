"""What the safety net needs from a call's turns before the one it judges.

A slow caller's pauses cut a story into turns: "năm ngoái cái sạp của tôi ở chợ" (no answer: out
of scope) ... "bị cháy trụi hết không còn gì". On its own the second turn is a fire now; with the
first it is the past, told before a question. So the net keeps the caller's words since the bot
last answered: after the replies in `WAITING` (the bot had no answer, asked to hear it again,
asked "A or B?", or asked the safety question and waits for yes or no). Any other reply (an
answer, a transfer) starts afresh. A turn whose danger does not stand with those words before it
is asked about, not put through at once.

A caller who has just answered "không" to the safety question ("kiốt nhà em cháy hồi tháng tư",
asked; "không"; "lửa to lắm mấy xe cứu hỏa mới dập được") is telling the same story: for their
next `DECLINED_TURNS` turns the net asks again rather than puts them through at once.

Two users keep one of these per call: the brain channel (actions/server/unanswered.py, which hands
it to the DangerDetector as message metadata) and the gateway's call policy (bot/policy/policy.py,
which matches the editors' phrases itself before the brain answers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from bot.danger.match import DangerMatcher
from bot.policy.reasons import Reason

# Replies after which the caller's words still wait for an answer.
WAITING = (Reason.OUT_OF_SCOPE, Reason.REPHRASE, Reason.CLARIFY, Reason.DANGER_CHECK)
# The caller's own yes or no is not part of their story ("không" would read as a negation).
ANSWERS = ("affirm", "deny")
DECLINED_TURNS = 2
MAX_WORDS = 40


@dataclass
class TurnsBefore:
    """One call's unanswered words (the latest MAX_WORDS) and a recent "không" to the question."""

    words: str = ""
    asked: bool = False  # the last reply was the safety question
    declined_turns: int = 0  # turns left in which a "không" to it still holds

    def before(self, text: str) -> str:
        """The unanswered words before `text`, or "". A turn that already begins with them (the
        gateway joined a fragment and its continuation) has none."""
        words = self.words
        return "" if not words or text.strip().lower().startswith(words.lower()) else words

    def after(self, text: str, reason: Optional[str], intent: Optional[str]) -> None:
        """Record the caller's turn and the brain's reason and intent for it."""
        declined = self.asked and intent == "deny"
        if intent in ANSWERS:
            words = self.words if declined else ""
        elif any(code.matches(reason) for code in WAITING):
            words = " ".join(f"{self.before(text)} {text}".split()[-MAX_WORDS:])
        else:
            words = ""
        self.words = words
        self.asked = Reason.DANGER_CHECK.matches(reason)
        self.declined_turns = DECLINED_TURNS if declined else max(0, self.declined_turns - 1)

    def phrase_stands(self, matcher: DangerMatcher, text: str) -> bool:
        """An editors' phrase that puts `text` through on its own still does after the turns
        before: no recent "không", and the phrase still matches, not as asking, with the
        unanswered words in front."""
        if self.declined_turns:
            return False
        before = self.before(text)
        if not before:
            return True
        found = matcher.find(f"{before} {text}")
        return found is not None and not found.asking
