"""The call policy: a pure state machine from call events (with their time) to actions."""
from bot.dialog.actions import Action, AskBrain, Hangup, Listen, Say, StopSpeaking, Transfer
from bot.dialog.events import (BargeIn, BrainDecided, CallerHungUp, CallerSaid, CallStarted, Decision, Dtmf,
                               EngineFailed, Event, PlaybackFinished, SimpleDecision, Tick)
from bot.dialog.policy import CallPolicy, CallSummary, PolicyConfig

__all__ = [
    "Action", "AskBrain", "Hangup", "Listen", "Say", "StopSpeaking", "Transfer",
    "BargeIn", "BrainDecided", "CallerHungUp", "CallerSaid", "CallStarted", "Decision", "Dtmf",
    "EngineFailed", "Event", "PlaybackFinished", "SimpleDecision", "Tick",
    "CallPolicy", "CallSummary", "PolicyConfig",
]
