"""What a call reports: the typed events read by `bot call`, the web page, call records and tests.

Two sets of events, not to be confused:
- `bot/policy/events.py`: the policy's INPUTS, what happened on the line, fed to `CallPolicy`
  (`CallerSaid`, `Dtmf`, `TransferFailed`, ...; plain names, time `t` in seconds).
- here: the call's OUTPUTS, what a call tells the world. Every class is named after its JSON
  `"event"` value with `Event` appended (`"bot_say"` -> `BotSayEvent`), derives from `CallEvent`,
  and leaves the call as JSON through `to_json`, the one serialiser, usually by way of an
  `Emitter`, the one emitter (stamps the call time and, on a live call, the call id).

JSON form: `{"call_id"?, "t"?, "event": name, <fields in declaration order>}`, e.g.
`{"t": 1.24, "event": "bot_say", "text": "...", "audio_ms": 5320}`. Records drop the fields in
`CallEvent.words` (the caller's own words) unless `privacy.keep_transcripts` is on.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallEvent:
    name: ClassVar[str]                   # the JSON "event" value
    words: ClassVar[tuple[str, ...]] = ()  # fields holding what the caller said (private)


# ----- a call's events (CallSession; LiveCall adds call_ended) ----------------------------------
@dataclass(frozen=True)
class BotSayEvent(CallEvent):
    """The bot starts saying `text` (`audio_ms` long, at the line rate)."""

    name = "bot_say"
    text: str
    audio_ms: int


@dataclass(frozen=True)
class CallerTextEvent(CallEvent):
    """A finished caller turn, as recognised ("" when speech was heard but no words)."""

    name = "caller_text"
    words = ("text",)
    text: str


@dataclass(frozen=True)
class MendedCallerTextEvent(CallerTextEvent):
    """The caller went on after a pause the bot took for the end (bot/policy/policy.py,
    `mend_window_s`): `text` is the whole question, replacing the previous `caller_text` (the call
    record keeps only this one)."""

    mended: bool = True


@dataclass(frozen=True)
class NluEvent(CallEvent):
    """The brain's reading of the caller's sentence."""

    name = "nlu"
    intent: str | None
    confidence: float


@dataclass(frozen=True)
class AnswerEvent(CallEvent):
    """The brain answers with FAQ entry `faq_id`."""

    name = "answer"
    faq_id: str


@dataclass(frozen=True)
class DtmfEvent(CallEvent):
    name = "dtmf"
    digits: str


@dataclass(frozen=True)
class TransferEvent(CallEvent):
    """The policy hands the call over to `branch`; `recent`: the caller's last sentences."""

    name = "transfer"
    words = ("recent",)
    branch: int
    reason: str
    recent: list[str]


@dataclass(frozen=True)
class TransferFailedEvent(CallEvent):
    """The transport could not hand the call over (`why`); the bot says which number to dial."""

    name = "transfer_failed"
    why: str


@dataclass(frozen=True)
class HangupEvent(CallEvent):
    """`by`: "caller" or "bot"."""

    name = "hangup"
    by: str
    reason: str


@dataclass(frozen=True)
class EngineErrorEvent(CallEvent):
    """An engine failed during the call (the policy apologises and transfers): `engine` is asr
    (recogniser), brain (Rasa unavailable) or voice (speech synthesis); `error` says what."""

    name = "engine_error"
    engine: str
    error: str


@dataclass(frozen=True)
class SummaryEvent(CallEvent):
    """The call in one line: `CallSession.summary()`, the record's summary, `bot call`'s last line."""

    name = "summary"
    outcome: str  # answered | transferred | hangup | abandoned | in_progress
    branch: int | None = None
    turns: int = 0
    reason: str = ""
    danger: str | None = None
    answers: list[str] = field(default_factory=list)     # FAQ ids read out, in order
    duration_s: float = 0.0
    latency_ms: list[int] = field(default_factory=list)  # caller's end of speech -> the reply


@dataclass(frozen=True)
class CallEndedEvent(SummaryEvent):
    """A live call's last event (`LiveCall`): its summary, once the record is written."""

    name = "call_ended"

    @classmethod
    def of(cls, summary: SummaryEvent) -> CallEndedEvent:
        return cls(**{f.name: getattr(summary, f.name) for f in dataclasses.fields(summary)})


# ----- the browser transport's own (bot/transports/web, to the page only) -------------------------
@dataclass(frozen=True)
class HelloEvent(CallEvent):
    """`reasons`: what each reason code means (bot/policy/reasons.py), for the page to show."""

    name = "hello"
    line_rate: int
    max_message_bytes: int
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StartedEvent(CallEvent):
    name = "started"
    call_id: str
    line_rate: int


@dataclass(frozen=True)
class HandedOverEvent(CallEvent):
    """A browser has nowhere to transfer to: the page shows the branch that would take the call
    and what the agent there would be told (bot/call/handoff.py; "" where privacy withholds it):
    the reason code and its meaning, the FAQ entry recognised and its question, the summary."""

    name = "handed_over"
    words = ("summary",)
    branch: int
    message: str
    call_id: str = ""
    reason: str = ""
    reason_text: str = ""
    faq_id: str = ""
    faq_question: str = ""
    summary: str = ""


@dataclass(frozen=True)
class BotHangupEvent(CallEvent):
    name = "bot_hangup"
    reason: str


@dataclass(frozen=True)
class BusyEvent(CallEvent):
    name = "busy"
    message: str


@dataclass(frozen=True)
class ErrorEvent(CallEvent):
    name = "error"
    code: str
    message: str


# ----- the one serialiser and the one emitter -----------------------------------------------------
def to_json(event: CallEvent, t: float | None = None, call_id: str | None = None,
            transcripts: bool = True) -> dict[str, Any]:
    """The event as a JSON-ready dict: `call_id` and `t` (seconds, rounded to ms) when given, then
    `"event"`, then the fields. `transcripts=False` drops the caller's words (call records)."""
    out: dict[str, Any] = {}
    if call_id is not None:
        out["call_id"] = call_id
    if t is not None:
        out["t"] = round(t, 3)
    out["event"] = event.name
    for f in dataclasses.fields(event):
        if transcripts or f.name not in event.words:
            value = getattr(event, f.name)
            out[f.name] = list(value) if isinstance(value, (list, tuple)) else value
    return out


Listener = Callable[[dict[str, Any]], None]  # gets each event in its JSON form


class Emitter:
    """Where a call's events leave it: each event is serialised once (`to_json`, stamped with the
    call time and, when given, `call_id`) and handed to every listener in order. A listener that
    raises is logged and skipped: a broken observer never breaks a call."""

    def __init__(self, *listeners: Listener | None, call_id: str | None = None) -> None:
        self.listeners: list[Listener] = [x for x in listeners if x is not None]
        self.call_id = call_id

    def __call__(self, event: CallEvent, t: float | None = None) -> dict[str, Any]:
        """Send `event`, stamped with call time `t` in seconds (None: no time, e.g. call_ended)."""
        data = to_json(event, t, self.call_id)
        for listener in self.listeners:
            try:
                listener(data)
            except Exception:  # noqa: BLE001 - a broken observer must not break the call
                log.exception("event listener failed")
        return data


__all__ = ["AnswerEvent", "BotHangupEvent", "BotSayEvent", "BusyEvent", "CallEndedEvent", "CallEvent",
           "CallerTextEvent", "DtmfEvent", "Emitter", "EngineErrorEvent", "ErrorEvent", "HandedOverEvent", "HangupEvent", "HelloEvent",
           "Listener", "MendedCallerTextEvent", "NluEvent", "StartedEvent", "SummaryEvent", "TransferEvent", "TransferFailedEvent", "to_json"]
