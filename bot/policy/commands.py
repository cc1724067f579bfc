"""What the call policy asks the gateway to do."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Say:
    """Play `text`; report PlaybackFinished(utterance_id) when it has been heard to the end.

    `interruptible`: the caller may cut it off by speaking (barge-in). Announcements that end the
    call (transfer, goodbye) are not. `prompt` names the fixed prompt it came from, `faq_id` the
    answer; both only label the audio (logs, recordings), the text is what is spoken.
    """

    text: str
    utterance_id: str
    interruptible: bool = True
    prompt: str | None = None
    faq_id: str | None = None


@dataclass(frozen=True)
class StopSpeaking:
    """Stop the current playback now (barge-in, keypad, danger)."""


@dataclass(frozen=True)
class Listen:
    """The caller has the floor: the bot has finished speaking and waits for a turn."""


@dataclass(frozen=True)
class AskBrain:
    text: str
    # The caller went on soon after a fragment of this question was answered (the bot stopped):
    # `text` is the fragment and its continuation joined, one question (PolicyConfig.mend_window_s).
    mended: bool = False


@dataclass(frozen=True)
class Transfer:
    """Hand the call to branch `branch`; the reason (bot/policy/reasons.py), the FAQ entry the
    bot recognised (if any) and `recent` (the caller's last sentences) go with it."""

    branch: int
    reason: str
    recent: list[str] = field(default_factory=list)
    faq_id: str | None = None


@dataclass(frozen=True)
class Hangup:
    reason: str  # a reason of bot/policy/reasons.py: goodbye, no_input, transfer_failed:<why>, ...


Action = Union[Say, StopSpeaking, Listen, AskBrain, Transfer, Hangup]
