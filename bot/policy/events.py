"""What the call policy is fed: call events, each stamped with the time it happened (seconds).

These are the policy's INPUTS. What a call reports to the world (bot_say, transfer, call_ended...)
are its OUTPUTS, typed in bot/call/events.py (class names ending in `Event`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Union


class Decision(Protocol):
    """The brain's decision for one caller sentence. `bot.brain.client.BrainReply` fits it."""

    @property
    def action(self) -> str: ...  # answer | transfer | dialog | end

    @property
    def faq_id(self) -> str | None: ...

    @property
    def branch(self) -> int | None: ...

    @property
    def reason(self) -> str: ...

    @property
    def reply(self) -> str: ...  # what to say

    @property
    def recent(self) -> list[str]: ...  # the caller's last sentences, for a transfer

    @property
    def intent(self) -> str | None: ...  # what the brain took the sentence for ("deny": a "không")


@dataclass(frozen=True)
class SimpleDecision:
    """A plain Decision (tests, and callers that have no BrainReply)."""

    action: str
    reply: str = ""
    faq_id: str | None = None
    branch: int | None = None
    reason: str = ""
    recent: list[str] = field(default_factory=list)
    intent: str | None = None


@dataclass(frozen=True)
class CallStarted:
    t: float


@dataclass(frozen=True)
class CallerSaid:
    """A finished caller turn's transcript (may be empty: speech was heard, no words recognised)."""

    t: float
    text: str


@dataclass(frozen=True)
class BrainDecided:
    t: float
    reply: Decision


@dataclass(frozen=True)
class Dtmf:
    t: float
    digit: str


@dataclass(frozen=True)
class PlaybackFinished:
    t: float
    utterance_id: str


@dataclass(frozen=True)
class BargeIn:
    """The caller started speaking (voice activity). While the bot speaks, this is a barge-in."""

    t: float


@dataclass(frozen=True)
class Tick:
    """Time passes; the gateway sends these regularly (e.g. every 100-250 ms)."""

    t: float


@dataclass(frozen=True)
class CallerHungUp:
    t: float


@dataclass(frozen=True)
class EngineFailed:
    t: float
    what: str  # e.g. "asr", "tts", "brain", "player"


@dataclass(frozen=True)
class TransferFailed:
    """The transport could not hand the call over (REFER refused, no answer, no transfer path)."""

    t: float
    why: str


Event = Union[CallStarted, CallerSaid, BrainDecided, Dtmf, PlaybackFinished, BargeIn, Tick, CallerHungUp,
              EngineFailed, TransferFailed]
