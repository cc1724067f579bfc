"""The call policy: a pure state machine from call events (with their time) to commands."""
from bot.policy.commands import Action, AskBrain, Hangup, Listen, Say, StopSpeaking, Transfer
from bot.policy.events import (BargeIn, BrainDecided, CallerHungUp, CallerSaid, CallStarted, Decision, Dtmf,
                               EngineFailed, Event, PlaybackFinished, SimpleDecision, Tick, TransferFailed)
from bot.policy.policy import CallPolicy, CallSummary, PolicyConfig

__all__ = [
    "Action", "AskBrain", "Hangup", "Listen", "Say", "StopSpeaking", "Transfer",
    "BargeIn", "BrainDecided", "CallerHungUp", "CallerSaid", "CallStarted", "Decision", "Dtmf",
    "EngineFailed", "Event", "PlaybackFinished", "SimpleDecision", "Tick", "TransferFailed",
    "CallPolicy", "CallSummary", "PolicyConfig",
]
