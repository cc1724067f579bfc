"""The either/or question on a call: while the brain asks "A, hay B?", keypad 1 and 2 answer it
(instead of transferring to branches 1 and 2); once answered, the keypad routes again."""
from __future__ import annotations

from bot.policy import AskBrain, StopSpeaking, Transfer
from tests.policy.conftest import Call

QUESTION = "Anh chị hỏi về mức tiền cho lao động tự do, hay về cách nhận tiền của lao động tự do? Xin nói, hoặc bấm phím, một hay hai."


def asked(call: Call) -> None:
    call.listening()
    call.say("lao động tự do tiền")
    call.brain("dialog", QUESTION, reason="clarify:ldtd_muc_ho_tro|chi_tra_lao_dong_tu_do")


def test_keypad_two_answers_the_question_while_it_is_being_asked(call: Call):
    asked(call)
    assert call.key("2") == [StopSpeaking(), AskBrain("hai")]


def test_keypad_one_answers_after_the_question_ends(call: Call):
    asked(call)
    call.finish(after=6.0)
    assert call.key("1") == [AskBrain("một")]


def test_after_the_answer_the_keypad_routes_again(call: Call, kb):
    asked(call)
    call.finish(after=6.0)
    call.key("1")
    call.brain("answer", "Lao động tự do được hỗ trợ một triệu năm trăm nghìn đồng.", faq_id="ldtd_muc_ho_tro")
    actions = call.key("2")
    assert actions[-1].prompt == "keypad_transfer"
    # The entry last answered goes with the transfer (the agent's context: bot/call/handoff.py).
    assert call.finish(after=4.0) == [Transfer(2, "keypad", ["lao động tự do tiền"], "ldtd_muc_ho_tro")]


def test_other_keys_and_words_are_not_choices(call: Call):
    asked(call)
    call.finish(after=6.0)
    assert call.say("cái thứ nhất") == [AskBrain("cái thứ nhất")]  # words go to the brain as always
    call.brain("answer", "Lao động tự do được hỗ trợ một triệu năm trăm nghìn đồng.", faq_id="ldtd_muc_ho_tro")
    call.finish()
    assert call.key("1")[-1].prompt == "keypad_transfer"  # the question is over
