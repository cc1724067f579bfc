"""The brain channel's memory of each call's turns before, for the safety net (bot/policy/story.py
says what is kept and why): handed to the brain with every turn as message metadata, which the
DangerDetector (actions/nlu/danger.py) reads.

In memory only, for `max_age_s` seconds after a call's last turn, for at most `max_conversations`
calls (the oldest forgotten): Rasa's tracker holds the same words, and reading it back on every
turn would cost a deserialisation. Plain Python: tests run it without Rasa.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional

from bot.policy.story import TurnsBefore

BEFORE_KEY = "unanswered_before"
DECLINED_KEY = "declined_before"


class UnansweredTurns:
    def __init__(self, max_age_s: float = 60.0, max_conversations: int = 5000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max_age_s = max_age_s
        self._max_conversations = max_conversations
        self._clock = clock
        self._calls: OrderedDict[str, tuple[float, TurnsBefore]] = OrderedDict()

    def _turns(self, sender: str) -> TurnsBefore:
        kept = self._calls.get(sender)
        return kept[1] if kept is not None and self._clock() - kept[0] <= self._max_age_s else TurnsBefore()

    def metadata(self, sender: str, text: str) -> Optional[Dict[str, Any]]:
        """What the brain gets with `text`: the words before it, a recent "không"; None if neither."""
        turns = self._turns(sender)
        out: Dict[str, Any] = {}
        before = turns.before(text)
        if before:
            out[BEFORE_KEY] = before
        if turns.declined_turns:
            out[DECLINED_KEY] = True
        return out or None

    def after(self, sender: str, text: str, reason: Optional[str], intent: Optional[str]) -> None:
        """Record the turn and the reply's reason and intent (the decision of actions/actions.py)."""
        turns = self._turns(sender)
        turns.after(text, reason, intent)
        self._calls[sender] = (self._clock(), turns)
        self._calls.move_to_end(sender)
        while len(self._calls) > self._max_conversations:
            self._calls.popitem(last=False)
