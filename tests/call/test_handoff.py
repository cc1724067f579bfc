"""What a transfer tells the person who takes the call (bot/call/handoff.py): the summary of the
caller's last sentences (masked, shortened, newest words kept), what each privacy level lets
out, and a whole call on stand-in engines where the caller talks, then presses 0."""
from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from bot.call.handoff import (ELLIPSIS, Handoff, HandoffConfig, Share, build_handoff, mask_numbers, shorten,
                              summarise)
from bot.call.records import CallRecorder
from bot.call.session import CallSession, call_config
from bot.call.virtual_clock import VirtualClock, parse_script, run_call
from bot.config import ConfigError, load_settings
from tests.fakes import ANSWER, KeywordBrain, fake_engines

SAID = ["Chào em, chị tên Lan ở Cầu Giấy",
        "số chị là 0912 345 678, hộ nghèo & cận nghèo = được bao nhiêu? <gấp>"]


@pytest.mark.parametrize("said, shown", [
    ("số tôi là 0912 345 678 nhé", "số tôi là 091****678 nhé"),
    ("gọi 0912.345.678 hoặc 0912-345-678", "gọi 091****678 hoặc 091****678"),
    ("căn cước 001234567890", "căn cước 001******890"),
    ("số không chín một hai ba bốn năm sáu bảy tám", "số ***"),            # read out in words
    ("không chín 1 2 3 4 5 6 ạ", "*** ạ"),                                 # words and figures mixed
    ("năm 2021 nhận 1.500.000 đồng", "năm 2021 nhận 150*000 đồng"),        # 7 figures: masked too
    ("hộ nghèo ở phường 5 được hỗ trợ một triệu năm trăm nghìn", None),    # no run of 7 digits
    ("ngày 15 tháng 8 năm 2021, nhánh 3", None),
])
def test_numbers_the_caller_said_are_masked(said, shown):
    assert mask_numbers(said) == (shown or said)


def test_the_summary_is_the_last_sentences_masked_and_in_order():
    assert summarise(SAID, 200) == ("Chào em, chị tên Lan ở Cầu Giấy / số chị là 091****678, hộ nghèo & cận nghèo = "
                                    "được bao nhiêu? <gấp>")
    assert summarise(["  a \r\n b\x00c ", "", "   "], 200) == "a b c"  # no line breaks or controls: one header line
    assert summarise([], 200) == ""


@pytest.mark.parametrize("limit", [20, 40, 69, 70, 99])  # 69: room for "/ " and the second sentence
def test_a_long_summary_keeps_the_newest_words_cut_at_a_word(limit):
    text = summarise(SAID, 1000)
    short = shorten(text, limit)
    assert len(short) <= limit and short.startswith(ELLIPSIS)
    kept = short.removeprefix(ELLIPSIS)
    assert text.endswith(kept) and text[-len(kept) - 1] == " "  # whole words, the end of the text
    assert not kept.startswith("/")  # a cut right after a sentence leaves no dangling separator
    assert shorten(text, 10_000) == text


def test_one_word_longer_than_the_room_keeps_its_end():
    assert shorten("x" * 50 + "yz", 20) == ELLIPSIS + "x" * 17 + "yz"


def test_what_each_privacy_level_shares():
    args = ("c-1", 5, "unverified_answer:hn", "hn", SAID)
    full = build_handoff(*args, HandoffConfig(Share.SUMMARY, 200))
    assert full.fields() == {"Call": "c-1", "Reason": "unverified_answer:hn", "Faq": "hn",
                             "Summary": summarise(SAID, 200)}
    assert full.sip_headers()[0] == ("X-Branch7-Call", "c-1")
    assert [n for n, _ in full.channel_variables()] == ["BRANCH7_CALL", "BRANCH7_REASON", "BRANCH7_FAQ",
                                                       "BRANCH7_SUMMARY"]
    reason = build_handoff(*args, HandoffConfig(Share.REASON, 200))
    assert reason.fields() == {"Call": "c-1", "Reason": "unverified_answer:hn", "Faq": "hn"}
    nothing = build_handoff(*args, HandoffConfig(Share.NONE, 200))
    assert nothing == Handoff("", 5) and nothing.fields() == {} and nothing.sip_headers() == []
    # Unknown parts are left out, not sent empty.
    assert build_handoff("c-2", 5, "keypad", None, [], HandoffConfig()).fields() == {"Call": "c-2", "Reason": "keypad"}


def test_the_privacy_setting_is_read_and_checked(tmp_path):
    path = tmp_path / "settings.yml"
    path.write_text("privacy:\n  share_with_agent: reason\n  summary_chars: 120\n")
    config = call_config(load_settings(path, environ={}))
    assert config.handoff == HandoffConfig(Share.REASON, 120)
    upper = load_settings(path, environ={"BOT_PRIVACY_SHARE_WITH_AGENT": "NONE"})
    assert call_config(upper).handoff.share is Share.NONE
    with pytest.raises(ValueError, match="share_with_agent"):
        call_config(load_settings(path, environ={"BOT_PRIVACY_SHARE_WITH_AGENT": "everything"}))
    with pytest.raises(ConfigError):
        load_settings(path, environ={"BOT_PRIVACY_SUMMARY_CHARS": "lots"})


# ----- a whole call --------------------------------------------------------------------------------
def _tone(path: str, rate: int) -> np.ndarray:
    """What the caller "says": 1.5 s of a loud tone (the stand-in VAD hears it as speech, the
    stand-in recogniser "hears" the next scripted sentence)."""
    return (8000 * np.sin(2 * np.pi * 300 * np.arange(int(1.5 * rate)) / rate)).astype(np.int16)


async def _talk_then_press_zero(settings, tmp_path, **privacy) -> tuple[CallSession, list[dict], dict]:
    s = settings.replace(privacy={"records_dir": str(tmp_path / "records"), **privacy})
    engines = fake_engines(tmp_path / "prompts", transcripts=SAID)
    events: list[dict] = []
    clock = VirtualClock()
    call_id = f"h-{uuid.uuid4().hex[:8]}"
    recorder = CallRecorder(tmp_path / "records", call_id, "0912345678", s.privacy.keep_transcripts)
    session = CallSession(call_id, engines, KeywordBrain(), call_config(s), clock, events.append, recorder)
    # Two sentences, each answered with the FAQ entry (the caller waits for the answer: a barge-in
    # this soon would be one question said in two goes, voice.mend_window_s), then keypad 0.
    script = parse_script(["a.wav", "b.wav", "dtmf:0"])
    await run_call(session, script, clock, 8000, load=_tone, max_s=600)
    record = json.loads(next((tmp_path / "records").glob("*.jsonl")).read_text().splitlines()[-1])
    return session, events, record


async def test_a_call_that_talks_then_presses_zero_hands_over_its_context(settings, tmp_path):
    session, events, record = await _talk_then_press_zero(settings, tmp_path)
    assert [e["text"] for e in events if e["event"] == "caller_text"] == SAID
    transfer = next(e for e in events if e["event"] == "transfer")
    assert (transfer["branch"], transfer["reason"]) == (5, "keypad")
    assert session.handoff == Handoff(session.call_id, 5, "keypad", ANSWER.id, summarise(SAID, 200))
    assert "0912" not in session.handoff.summary and "091****678" in session.handoff.summary
    # Sharing is not keeping: with keep_transcripts off the record holds none of the caller's words.
    assert not record["transcripts"] and "Cầu Giấy" not in json.dumps(record, ensure_ascii=False)


async def test_a_call_shares_only_what_the_privacy_setting_allows(settings, tmp_path):
    session, _, _ = await _talk_then_press_zero(settings, tmp_path / "reason", share_with_agent="reason")
    assert session.handoff.fields() == {"Call": session.call_id, "Reason": "keypad", "Faq": ANSWER.id}
    session, _, _ = await _talk_then_press_zero(settings, tmp_path / "none", share_with_agent="none")
    assert session.handoff.fields() == {}
    session, _, _ = await _talk_then_press_zero(settings, tmp_path / "short", summary_chars=40)
    assert len(session.handoff.summary) <= 40 and session.handoff.summary.endswith("<gấp>")
