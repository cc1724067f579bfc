"""A call driven with virtual time: the test moves the clock, the policy only sees event times."""
from __future__ import annotations

import pytest

from bot.content.load import load_knowledge_base
from bot.content.model import KnowledgeBase
from bot.policy import (Action, BargeIn, BrainDecided, CallerSaid, CallPolicy, CallStarted, Dtmf, Event,
                        PlaybackFinished, PolicyConfig, Say, SimpleDecision, Tick)
from tests.conftest import ROOT

_KB, _ = load_knowledge_base(ROOT / "data/faq")


class Call:
    """One call: `t` is the virtual clock; helpers send events at it and keep the last Say."""

    def __init__(self, policy: CallPolicy, t: float = 1000.0) -> None:
        self.policy = policy
        self.t = t
        self.said: list[Say] = []

    def send(self, event: Event) -> list[Action]:
        actions = self.policy.handle(event)
        self.said += [a for a in actions if isinstance(a, Say)]
        return actions

    def wait(self, seconds: float) -> list[Action]:
        self.t += seconds
        return self.send(Tick(self.t))

    def start(self) -> list[Action]:
        return self.send(CallStarted(self.t))

    def finish(self, after: float = 2.0) -> list[Action]:
        """The last Say has been played to the end, `after` seconds later."""
        self.t += after
        return self.send(PlaybackFinished(self.t, self.said[-1].utterance_id))

    def say(self, text: str) -> list[Action]:
        return self.send(CallerSaid(self.t, text))

    def brain(self, action: str, reply: str = "", **kw) -> list[Action]:
        self.t += 0.3
        return self.send(BrainDecided(self.t, SimpleDecision(action, reply, **kw)))

    def key(self, digit: str) -> list[Action]:
        return self.send(Dtmf(self.t, digit))

    def barge_in(self) -> list[Action]:
        return self.send(BargeIn(self.t))

    def listening(self) -> "Call":
        """Greeted and waiting for the caller."""
        self.start()
        self.finish()
        return self


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    assert _KB is not None
    return _KB


@pytest.fixture
def call(kb: KnowledgeBase) -> Call:
    return Call(CallPolicy(kb.prompt, PolicyConfig()))
