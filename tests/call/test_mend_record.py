"""A mended question is one `caller_text` in the call record (bot/call/records.py)."""
from bot.call.events import BotSayEvent, CallerTextEvent, MendedCallerTextEvent, to_json
from bot.call.records import CallRecorder


def test_the_whole_question_replaces_its_fragment_in_the_record(tmp_path):
    recorder = CallRecorder(tmp_path, "c1", "0912345678", True)
    recorder.add(CallerTextEvent("lao động tự do"), 1.0)
    recorder.add(BotSayEvent("Theo nghị quyết...", 5000), 1.4)
    recorder.add(MendedCallerTextEvent("lao động tự do thì được bao nhiêu"), 3.0)
    texts = [e for e in recorder.events if e["event"] == "caller_text"]
    assert texts == [{"t": 3.0, "event": "caller_text", "text": "lao động tự do thì được bao nhiêu", "mended": True}]
    assert [e["event"] for e in recorder.events] == ["bot_say", "caller_text"]


def test_an_ordinary_caller_text_keeps_its_json_form():
    assert to_json(CallerTextEvent("hộ nghèo"), 1.0) == {"t": 1.0, "event": "caller_text", "text": "hộ nghèo"}
