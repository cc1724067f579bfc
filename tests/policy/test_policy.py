# Over 400 lines: one test per policy rule, kept together so the rules read as one list.
"""The call policy, rule by rule, with virtual time."""
from __future__ import annotations

import pytest

from bot.brain.client import BrainReply
from bot.policy import (AskBrain, BargeIn, BrainDecided, CallerHungUp, CallerSaid, CallPolicy, CallStarted, Dtmf,
                        EngineFailed, Hangup, Listen, PlaybackFinished, PolicyConfig, Say, StopSpeaking, Tick,
                        Transfer)
from bot.policy.policy import Phase
from tests.policy.conftest import Call

ANSWER = "Lao động tự do được hỗ trợ một triệu năm trăm nghìn đồng. Anh chị còn cần hỏi gì thêm không ạ?"


def only(actions, kind):
    found = [a for a in actions if isinstance(a, kind)]
    assert len(found) == 1, actions
    return found[0]


# ── greeting ──────────────────────────────────────────────────────────────────────────────

def test_greeting_tells_what_the_line_answers_and_that_zero_reaches_a_person(call: Call, kb):
    actions = call.start()
    assert actions == [Say(kb.prompt("greeting"), "u1", True, "greeting", None)]
    text = actions[0].text
    assert "an sinh xã hội" in text and "phím không" in text
    assert call.finish() == [Listen()]


def test_nothing_happens_before_the_call_starts(call: Call):
    assert call.say("cấp cứu") == []
    assert call.wait(100) == []
    assert call.policy.phase is Phase.IDLE


def test_playback_of_another_utterance_does_not_end_the_current_one(call: Call):
    call.start()
    assert call.send(PlaybackFinished(call.t + 1, "u99")) == []
    assert call.policy.phase is Phase.SPEAKING


# ── caller turns and the brain ────────────────────────────────────────────────────────────

def test_caller_sentence_goes_to_the_brain_normalised(call: Call):
    call.listening()
    assert call.say("  lao động   tự do  được bao nhiêu ") == [AskBrain("lao động tự do được bao nhiêu")]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_transcript_is_no_input_and_never_reaches_the_brain(call: Call, kb, text):
    call.listening()
    actions = call.say(text)
    assert not any(isinstance(a, AskBrain) for a in actions)
    assert only(actions, Say).text == kb.prompt("empty_input")
    assert call.policy.summary().reprompts == 1


@pytest.mark.parametrize("action", ["answer", "dialog"])
def test_answer_or_dialog_is_said_then_the_caller_has_the_floor(call: Call, action):
    call.listening()
    call.say("lao động tự do được bao nhiêu")
    actions = call.brain(action, ANSWER, faq_id="ldtd_muc_ho_tro")
    say = only(actions, Say)
    assert (say.text, say.interruptible, say.faq_id, say.prompt) == (ANSWER, True, "ldtd_muc_ho_tro", None)
    assert actions == [say]  # nothing else until it has been heard
    assert call.finish() == [Listen()]


def test_transfer_is_announced_uninterruptibly_and_made_after_the_announcement(call: Call):
    call.listening()
    call.say("nhà tôi hết gạo rồi")
    actions = call.brain("transfer", "Tôi chuyển anh chị sang nhánh sáu.", branch=6,
                         reason="intent:need_food_supplies", recent=["nhà tôi hết gạo rồi"])
    assert only(actions, Say).interruptible is False
    assert not any(isinstance(a, Transfer) for a in actions)
    assert call.barge_in() == []  # the caller cannot talk over it
    assert call.finish() == [Transfer(6, "intent:need_food_supplies", ["nhà tôi hết gạo rồi"])]
    assert call.policy.summary().outcome == "transferred"
    assert call.policy.summary().branch == 6


def test_transfer_without_branch_text_or_recent_uses_the_human_branch_and_own_record(call: Call, kb):
    call.listening()
    call.say("câu hỏi khó")
    actions = call.brain("transfer", "", branch=None, reason="")
    assert only(actions, Say).text == kb.prompt("human_transfer", 5)
    assert call.finish() == [Transfer(5, "brain", ["câu hỏi khó"])]


def test_end_says_goodbye_then_hangs_up(call: Call):
    call.listening()
    call.say("thôi chào em")
    actions = call.brain("end", "Cảm ơn anh chị đã gọi, xin chào.")
    say = only(actions, Say)
    assert say.interruptible is False and not any(isinstance(a, Hangup) for a in actions)
    assert call.finish() == [Hangup("goodbye")]
    assert call.policy.summary().outcome == "hangup"


def test_goodbye_after_an_answer_is_an_answered_call(call: Call):
    call.listening()
    call.say("lao động tự do được bao nhiêu")
    call.brain("answer", ANSWER, faq_id="ldtd_muc_ho_tro")
    call.finish()
    call.say("thôi cảm ơn")
    call.brain("end", "Xin chào.")
    call.finish()
    summary = call.policy.summary()
    assert (summary.outcome, summary.answers, summary.turns) == ("answered", ["ldtd_muc_ho_tro"], 2)


def test_a_decision_that_arrives_when_nobody_asked_is_ignored(call: Call):
    call.listening()
    assert call.brain("answer", ANSWER) == []


def test_a_sentence_while_the_brain_thinks_is_kept_for_the_transfer_but_not_sent(call: Call):
    call.listening()
    call.say("một")
    assert call.say("hai") == []
    call.brain("transfer", "Chuyển máy.", branch=5, reason="x", recent=[])
    assert call.finish() == [Transfer(5, "x", ["một", "hai"])]


def test_brain_reply_from_the_client_fits_the_decision_protocol(call: Call):
    call.listening()
    call.say("cho gặp người thật")
    reply = BrainReply("cho gặp người thật", "request_human", 0.98, "transfer", None, 5,
                       "Vâng, anh chị vui lòng giữ máy.", "intent:request_human", ["cho gặp người thật"])
    actions = call.send(BrainDecided(call.t, reply))
    assert only(actions, Say).text == "Vâng, anh chị vui lòng giữ máy."
    assert call.finish() == [Transfer(5, "intent:request_human", ["cho gặp người thật"])]


# ── no input ──────────────────────────────────────────────────────────────────────────────

def test_silence_is_timed_from_the_end_of_the_bot_speech(call: Call, kb):
    call.start()
    assert call.wait(30) == []  # the greeting is still playing: silence does not count
    call.finish()
    assert call.wait(7.9) == []
    say = only(call.wait(0.1), Say)
    assert (say.text, say.prompt, say.interruptible) == (kb.prompt("empty_input"), "empty_input", True)


def test_two_reprompts_then_goodbye_and_hangup(call: Call, kb):
    call.listening()
    for _ in range(2):
        assert only(call.wait(8), Say).prompt == "empty_input"
        assert call.finish() == [Listen()]
    say = only(call.wait(8), Say)
    assert (say.text, say.interruptible) == (kb.prompt("no_input_goodbye"), False)
    assert call.finish() == [Hangup("no_input")]
    summary = call.policy.summary()
    assert (summary.outcome, summary.reason, summary.reprompts) == ("hangup", "no_input", 2)


def test_config_changes_timeout_and_reprompt_count(kb):
    call = Call(CallPolicy(kb.prompt, PolicyConfig(no_input_timeout_s=3, max_reprompts=0))).listening()
    assert call.wait(2.9) == []
    assert only(call.wait(0.1), Say).prompt == "no_input_goodbye"


def test_speaking_resets_the_silence_count(call: Call):
    call.listening()
    call.wait(8)
    call.finish()
    call.wait(8)
    call.finish()  # two reprompts so far
    call.say("hộ nghèo được bao nhiêu")
    call.brain("answer", ANSWER, faq_id="hn")
    call.finish()
    assert only(call.wait(8), Say).prompt == "empty_input"  # a fresh count, not the goodbye


def test_voice_heard_holds_the_silence_clock_until_the_transcript(call: Call):
    call.listening()
    call.wait(3)
    assert call.barge_in() == []  # caller starts talking while the bot listens
    assert call.wait(20) == []  # a long sentence is not silence
    assert call.say("lao động tự do") == [AskBrain("lao động tự do")]


# ── keypad ────────────────────────────────────────────────────────────────────────────────

def test_zero_reaches_a_person_on_the_human_branch(call: Call, kb):
    call.listening()
    actions = call.key("0")
    say = only(actions, Say)
    assert (say.text, say.interruptible) == (kb.prompt("human_transfer", 5), False)
    assert call.finish() == [Transfer(5, "keypad", [])]


def test_zero_follows_the_configured_human_branch(kb):
    call = Call(CallPolicy(kb.prompt, PolicyConfig(human_branch=3))).listening()
    assert "nhánh ba" in only(call.key("0"), Say).text
    assert call.finish()[0].branch == 3


@pytest.mark.parametrize("digit", list("123456"))
def test_branch_keys_announce_that_branch_and_transfer(call: Call, kb, digit):
    call.listening()
    say = only(call.key(digit), Say)
    assert say.text == kb.prompt("keypad_transfer", int(digit)) and say.prompt == "keypad_transfer"
    assert call.finish() == [Transfer(int(digit), "keypad", [])]


def test_a_key_during_the_greeting_stops_it(call: Call):
    call.start()
    actions = call.key("3")
    assert actions[0] == StopSpeaking() and isinstance(actions[1], Say)


def test_nine_repeats_the_last_answer(call: Call):
    call.listening()
    call.say("lao động tự do")
    call.brain("answer", ANSWER, faq_id="ldtd_muc_ho_tro")
    call.finish()
    call.wait(8)  # a reprompt is not what 9 repeats
    actions = call.key("9")
    assert actions[0] == StopSpeaking()
    say = only(actions, Say)
    assert (say.text, say.faq_id, say.interruptible) == (ANSWER, "ldtd_muc_ho_tro", True)
    assert say.utterance_id != call.said[-3].utterance_id
    assert call.finish() == [Listen()]


def test_nine_before_any_answer_repeats_the_greeting(call: Call, kb):
    call.listening()
    assert only(call.key("9"), Say).text == kb.prompt("greeting")


@pytest.mark.parametrize("digit", ["7", "8", "*", "#"])
def test_other_keys_do_nothing(call: Call, digit):
    call.listening()
    assert call.key(digit) == []


def test_keys_do_not_cut_a_closing_announcement(call: Call):
    call.listening()
    call.say("chào nhé")
    call.brain("end", "Xin chào.")
    assert call.key("0") == []
    assert call.finish() == [Hangup("goodbye")]


def test_a_key_while_the_brain_thinks_wins_over_its_late_decision(call: Call):
    call.listening()
    call.say("cho hỏi")
    call.key("0")
    assert call.brain("answer", ANSWER) == []
    assert call.finish() == [Transfer(5, "keypad", ["cho hỏi"])]


# ── barge-in ──────────────────────────────────────────────────────────────────────────────

def test_barge_in_stops_an_answer_and_the_words_become_the_next_turn(call: Call):
    call.listening()
    call.say("lao động tự do")
    call.brain("answer", ANSWER, faq_id="x")
    stopped = call.said[-1].utterance_id
    assert call.barge_in() == [StopSpeaking(), Listen()]
    assert call.send(PlaybackFinished(call.t + 0.1, stopped)) == []  # the player's late report
    assert call.say("thế còn hộ nghèo") == [AskBrain("thế còn hộ nghèo")]


def test_barge_in_during_the_greeting(call: Call):
    call.start()
    assert call.barge_in() == [StopSpeaking(), Listen()]


def test_words_over_an_answer_without_a_barge_in_event_still_interrupt(call: Call):
    call.listening()
    call.say("a")
    call.brain("answer", ANSWER)
    assert call.say("thế còn hộ nghèo") == [StopSpeaking(), AskBrain("thế còn hộ nghèo")]


def test_no_barge_in_over_a_system_error_announcement(call: Call):
    call.listening()
    call.send(EngineFailed(call.t, "asr"))
    assert call.barge_in() == []
    assert call.say("alo") == []


# ── max call length ───────────────────────────────────────────────────────────────────────

def test_max_call_length_transfers_to_a_person(call: Call, kb):
    call.listening()  # greeting took 2 s
    call.say("lao động tự do")
    call.brain("answer", ANSWER)
    call.finish()
    call.t = 1000 + 599.9
    call.send(BargeIn(call.t))  # caller speaking: silence does not fire
    assert call.send(Tick(call.t)) == []
    actions = call.wait(0.1)
    say = only(actions, Say)
    assert (say.text, say.interruptible) == (kb.prompt("max_call_length", 5), False)
    assert call.finish() == [Transfer(5, "max_call_length", ["lao động tự do"])]


def test_an_answer_under_way_at_the_limit_is_finished_first(call: Call):
    call.listening()
    call.say("a")
    call.t = 1000 + 550
    call.brain("answer", ANSWER)
    call.t = 1000 + 610
    assert call.send(Tick(call.t)) == []  # still speaking
    assert only(call.finish(), Say).prompt == "max_call_length"


def test_a_sentence_after_the_limit_is_not_sent_to_the_brain(kb):
    call = Call(CallPolicy(kb.prompt, PolicyConfig(max_call_s=60))).listening()
    call.t += 58
    call.barge_in()
    call.t += 5
    actions = call.say("còn một câu nữa")
    assert only(actions, Say).prompt == "max_call_length"
    assert not any(isinstance(a, AskBrain) for a in actions)


# ── failures ──────────────────────────────────────────────────────────────────────────────

def test_engine_failure_is_announced_and_transferred_never_silence(call: Call, kb):
    call.listening()
    call.say("hỏi về hộ nghèo")
    actions = call.send(EngineFailed(call.t, "brain"))
    say = only(actions, Say)
    assert (say.text, say.interruptible) == (kb.prompt("system_error", 5), False)
    assert call.finish() == [Transfer(5, "engine_failed:brain", ["hỏi về hộ nghèo"])]


def test_engine_failure_while_speaking_stops_the_speech_first(call: Call):
    call.start()
    actions = call.send(EngineFailed(call.t, "asr"))
    assert actions[0] == StopSpeaking() and only(actions, Say).prompt == "system_error"


def test_a_failure_during_the_failure_announcement_transfers_at_once(call: Call):
    call.listening()
    call.send(EngineFailed(call.t, "asr"))
    actions = call.send(EngineFailed(call.t + 0.5, "tts"))
    assert actions == [StopSpeaking(), Transfer(5, "engine_failed:asr", [])]


def test_a_lost_playback_report_does_not_leave_the_caller_in_silence(call: Call):
    call.listening()
    call.key("0")
    assert call.wait(89) == []
    assert call.wait(1) == [Transfer(5, "keypad", [])]


# ── hang-up and the end of the call ───────────────────────────────────────────────────────

def test_caller_hanging_up_yields_no_actions_and_is_recorded(call: Call):
    call.listening()
    call.say("alo")
    assert call.send(CallerHungUp(call.t + 1)) == []
    summary = call.policy.summary()
    assert (summary.outcome, summary.reason, summary.turns) == ("abandoned", "caller_hung_up", 1)
    assert call.brain("answer", ANSWER) == []


def test_caller_hanging_up_after_an_answer_is_answered(call: Call):
    call.listening()
    call.say("a")
    call.brain("answer", ANSWER, faq_id="x")
    call.send(CallerHungUp(call.t + 1))
    assert call.policy.summary().outcome == "answered"


@pytest.mark.parametrize("closing", ["transfer", "hangup"])
def test_after_transfer_or_hangup_everything_is_ignored(call: Call, closing):
    call.listening()
    call.say("a")
    call.brain("transfer" if closing == "transfer" else "end", "Chào.", branch=2, reason="r")
    call.finish()
    assert call.policy.phase is Phase.DONE
    t = call.t
    for event in (Tick(t + 100), CallerSaid(t, "cấp cứu"), Dtmf(t, "0"), EngineFailed(t, "asr"),
                  CallStarted(t), PlaybackFinished(t, "u1"), CallerHungUp(t)):
        assert call.send(event) == []
    assert call.policy.summary().outcome == ("transferred" if closing == "transfer" else "hangup")


def test_summary_keeps_the_last_three_sentences_and_duration(call: Call):
    call.listening()
    for text in ["một", "hai", "ba", "bốn"]:
        call.say(text)
        call.brain("dialog", "Vâng.")
        call.finish()
    call.key("0")
    call.finish()
    summary = call.policy.summary()
    assert summary.recent == ["hai", "ba", "bốn"] and summary.turns == 4 and summary.branch == 5
    assert summary.duration_s == pytest.approx(call.t - 1000)


def test_prompts_may_be_a_plain_mapping():
    prompts = {"greeting": "Xin chào.", "keypad_transfer": "Sang nhánh {branch}."}
    call = Call(CallPolicy(prompts)).listening()
    assert only(call.key("4"), Say).text == "Sang nhánh bốn."
