"""The call's output events keep the JSON the CLI, the web page (app.js) and call records read."""
from __future__ import annotations

import json

from bot.call.events import (AnswerEvent, BotHangupEvent, BotSayEvent, BusyEvent, CallEndedEvent, CallerTextEvent,
                             DtmfEvent, Emitter, ErrorEvent, HandedOverEvent, HangupEvent, HelloEvent, NluEvent,
                             StartedEvent, SummaryEvent, TransferEvent, TransferFailedEvent, to_json)

SUMMARY = SummaryEvent(outcome="transferred", branch=5, turns=2, reason="keypad", danger=None, answers=["a"],
                       duration_s=12.5, latency_ms=[410])
SUMMARY_JSON = {"outcome": "transferred", "branch": 5, "turns": 2, "reason": "keypad", "danger": None, "answers": ["a"],
                "duration_s": 12.5, "latency_ms": [410]}


def test_every_event_has_its_json_name_and_keys_in_order():
    cases = [
        (BotSayEvent("Xin chào", 5320), {"event": "bot_say", "text": "Xin chào", "audio_ms": 5320}),
        (CallerTextEvent("không"), {"event": "caller_text", "text": "không"}),
        (NluEvent("deny", 0.97), {"event": "nlu", "intent": "deny", "confidence": 0.97}),
        (AnswerEvent("faq_x"), {"event": "answer", "faq_id": "faq_x"}),
        (DtmfEvent("0"), {"event": "dtmf", "digits": "0"}),
        (TransferEvent(5, "keypad", ["một", "hai"]),
         {"event": "transfer", "branch": 5, "reason": "keypad", "recent": ["một", "hai"]}),
        (TransferFailedEvent("refused"), {"event": "transfer_failed", "why": "refused"}),
        (HangupEvent("bot", "no_input"), {"event": "hangup", "by": "bot", "reason": "no_input"}),
        (SUMMARY, {"event": "summary", **SUMMARY_JSON}),
        (CallEndedEvent.of(SUMMARY), {"event": "call_ended", **SUMMARY_JSON}),
        (HelloEvent(8000, 65536, {"keypad": "bấm phím"}),
         {"event": "hello", "line_rate": 8000, "max_message_bytes": 65536, "reasons": {"keypad": "bấm phím"}}),
        (StartedEvent("abc", 8000), {"event": "started", "call_id": "abc", "line_rate": 8000}),
        (HandedOverEvent(5, "Đang chuyển sang nhánh 5", "abc", "keypad", "bấm phím", "hn", "Hộ nghèo?", "a / b"),
         {"event": "handed_over", "branch": 5, "message": "Đang chuyển sang nhánh 5", "call_id": "abc",
          "reason": "keypad", "reason_text": "bấm phím", "faq_id": "hn", "faq_question": "Hộ nghèo?", "summary": "a / b"}),
        (BotHangupEvent("bye"), {"event": "bot_hangup", "reason": "bye"}),
        (BusyEvent("bận"), {"event": "busy", "message": "bận"}),
        (ErrorEvent("bad_json", "..."), {"event": "error", "code": "bad_json", "message": "..."}),
    ]
    for event, expected in cases:
        data = to_json(event)
        assert list(data.items()) == list(expected.items())
        json.dumps(data)  # JSON as it is


def test_stamps_come_first_and_records_drop_the_callers_words():
    assert list(to_json(DtmfEvent("5"), t=1.23456, call_id="c")) == ["call_id", "t", "event", "digits"]
    assert to_json(DtmfEvent("5"), t=1.23456)["t"] == 1.235
    assert "text" not in to_json(CallerTextEvent("số điện thoại"), 2.0, transcripts=False)
    assert "recent" not in to_json(TransferEvent(5, "keypad", ["x"]), 2.0, transcripts=False)
    assert "summary" not in to_json(HandedOverEvent(5, "m", summary="x"), 2.0, transcripts=False)
    assert to_json(BotSayEvent("Xin chào", 10), 2.0, transcripts=False)["text"] == "Xin chào"  # the bot's words stay


def test_the_emitter_serialises_once_for_every_listener_and_survives_a_broken_one():
    got: list[dict] = []

    def broken(_: dict) -> None:
        raise RuntimeError("observer bug")

    emit = Emitter(broken, got.append, None, call_id="c1")
    sent = emit(HangupEvent("caller", "caller_hung_up"), 3.0)
    assert got == [sent] == [{"call_id": "c1", "t": 3.0, "event": "hangup", "by": "caller", "reason": "caller_hung_up"}]
