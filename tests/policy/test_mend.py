"""Mending a split turn: a caller who paused in mid-question and went on over the bot's answer to
the fragment gets one answer to the whole question (PolicyConfig.mend_window_s)."""
from __future__ import annotations

import pytest

from bot.policy import AskBrain, CallPolicy, Listen, PolicyConfig, Say, StopSpeaking, Transfer
from tests.policy.conftest import Call

ANSWER = "Lao động tự do được hỗ trợ một triệu năm trăm nghìn đồng."


@pytest.fixture
def call(kb) -> Call:
    return Call(CallPolicy(kb.prompt, PolicyConfig(mend_window_s=1.5), danger=kb.danger)).listening()


def answer_fragment(call: Call, text: str = "cho tôi hỏi là lao động tự do") -> None:
    call.say(text)
    call.brain("answer", ANSWER, faq_id="ldtd")  # 0.3 s later the bot starts the fragment's answer


def test_the_rest_of_the_question_joins_the_fragment(call: Call):
    answer_fragment(call)
    call.t += 0.4  # the caller goes on 0.7 s after handing over the fragment
    assert call.barge_in() == [StopSpeaking(), Listen()]
    assert call.say("thì được hỗ trợ bao nhiêu") == [
        AskBrain("cho tôi hỏi là lao động tự do thì được hỗ trợ bao nhiêu", mended=True)]
    call.brain("answer", ANSWER, faq_id="ldtd_muc")
    summary = call.policy.summary()
    assert summary.turns == 1  # one question
    assert summary.answers == ["ldtd_muc"]  # the cut-off answer to the fragment is not counted
    assert summary.recent == ["cho tôi hỏi là lao động tự do thì được hỗ trợ bao nhiêu"]


def test_a_barge_in_later_than_the_window_is_a_new_question(call: Call):
    answer_fragment(call, "lao động tự do được bao nhiêu")
    call.t += 2.0
    call.barge_in()
    assert call.say("thế còn hộ nghèo") == [AskBrain("thế còn hộ nghèo")]
    assert call.policy.summary().turns == 2


def test_off_by_default(kb):
    call = Call(CallPolicy(kb.prompt, PolicyConfig())).listening()
    answer_fragment(call)
    call.barge_in()
    assert call.say("thì được bao nhiêu") == [AskBrain("thì được bao nhiêu")]


@pytest.mark.parametrize("heard", ["", "dạ", "vâng ạ", "da"])  # a cough, or a listener's "dạ"
def test_noise_or_a_backchannel_over_the_answer_lets_it_go_on(call: Call, heard):
    answer_fragment(call)
    call.t += 0.4
    call.barge_in()
    again = only_say(call.say(heard))  # not a reprompt, not a new question: the answer again
    assert again.text == ANSWER and again.faq_id == "ldtd"
    assert call.policy.summary().answers == ["ldtd"] and call.policy.summary().turns == 1
    call.t += 0.5
    assert call.barge_in() == [StopSpeaking(), Listen()]  # an ordinary barge-in now: nothing to join
    assert call.say("thế còn hộ nghèo") == [AskBrain("thế còn hộ nghèo")]


def test_a_reply_goes_on_once_then_noise_is_an_ordinary_barge_in(call: Call):
    answer_fragment(call)
    call.barge_in()
    call.say("")
    call.barge_in()
    assert only_say(call.say("")).prompt == "empty_input"  # steady noise cannot restart it for ever


def test_a_transfer_chosen_for_the_fragment_goes_ahead_after_a_cough(call: Call):
    call.say("cho tôi hỏi là")
    call.brain("transfer", "Tôi chuyển anh chị sang nhánh năm.", branch=5, reason="out_of_scope")
    call.t += 0.5
    call.barge_in()
    again = only_say(call.say("dạ"))
    assert again.interruptible is False
    assert call.finish()[0] == Transfer(5, "out_of_scope", ["cho tôi hỏi là"])


def only_say(actions) -> Say:
    (say,) = [a for a in actions if isinstance(a, Say)]
    return say


def test_a_danger_split_by_the_pause_is_caught_on_the_whole_sentence(call: Call):
    # Neither half alone is a danger phrase; together they are (data/faq/danger.yml, medical).
    answer_fragment(call, "mẹ tôi khó")
    call.barge_in()
    actions = call.say("thở quá")
    say = next(a for a in actions if isinstance(a, Say))
    assert say.interruptible is False and say.prompt == "danger_medical"
    assert isinstance(call.finish()[0], Transfer)


def test_only_the_answer_to_the_fragment_is_mended(call: Call, kb):
    # The caller interrupts the greeting: nothing to join.
    fresh = Call(CallPolicy(kb.prompt, PolicyConfig(mend_window_s=1.5)))
    fresh.start()
    fresh.barge_in()
    assert fresh.say("lao động tự do") == [AskBrain("lao động tự do")]


def test_a_transfer_chosen_for_the_fragment_gives_way_to_the_whole_question(call: Call):
    call.say("cho tôi hỏi là")
    call.brain("transfer", "Tôi chuyển anh chị sang nhánh năm.", branch=5, reason="out_of_scope")
    call.t += 0.5
    assert call.barge_in() == [StopSpeaking(), Listen()]  # the transfer never happens
    assert call.say("lao động tự do được bao nhiêu") == [AskBrain("cho tôi hỏi là lao động tự do được bao nhiêu",
                                                                  mended=True)]
    assert call.policy.summary().outcome == "in_progress"


def test_a_danger_message_is_never_mended(call: Call):
    call.say("tôi chỉ muốn chết")  # the editors' phrase: the danger message, then the transfer
    call.t += 0.5
    assert call.barge_in() == []
    assert call.say("cho xong") == []
    assert isinstance(call.finish()[0], Transfer)


def test_a_transfer_past_the_window_goes_ahead(call: Call):
    call.say("cho tôi hỏi là")
    call.brain("transfer", "Tôi chuyển anh chị sang nhánh năm.", branch=5, reason="out_of_scope")
    call.t += 2.0
    assert call.barge_in() == []
    assert call.finish()[0] == Transfer(5, "out_of_scope", ["cho tôi hỏi là"])


def test_a_short_reply_already_over_is_mended_too(call: Call):
    call.say("cho tôi hỏi là")
    call.brain("dialog", "Dạ?")
    call.finish(after=0.4)  # the reply is over before the caller goes on
    call.t += 0.3
    assert call.barge_in() == []  # listening already: nothing to stop
    assert call.say("lao động tự do được bao nhiêu") == [AskBrain("cho tôi hỏi là lao động tự do được bao nhiêu",
                                                                  mended=True)]


def test_words_long_after_a_short_reply_are_a_new_question(call: Call):
    call.say("lao động tự do được bao nhiêu")
    call.brain("dialog", "Dạ?")
    call.finish(after=0.4)
    call.t += 3.0
    call.barge_in()
    assert call.say("hộ nghèo thì sao") == [AskBrain("hộ nghèo thì sao")]


def danger_fragment(call: Call, text: str = "tay cầm một cặp") -> None:
    """The brain's model (not an editors' phrase) hears violence in a fragment."""
    call.say(text)
    call.brain("transfer", "", branch=1, reason="danger:violence")


def test_a_danger_only_the_model_heard_in_a_fragment_is_judged_on_the_whole_sentence(call: Call, kb):
    danger_fragment(call)
    call.t += 0.5
    assert call.barge_in() == [StopSpeaking(), Listen()]  # the message stops: the caller goes on
    assert call.say("sách đi học") == [AskBrain("tay cầm một cặp sách đi học", mended=True)]
    call.brain("answer", ANSWER, faq_id="ldtd")
    assert not any(isinstance(a, Transfer) for a in call.finish())
    summary = call.policy.summary()
    assert summary.danger is None and summary.turns == 1


def test_the_whole_sentence_still_in_danger_gets_the_message_again(call: Call, kb):
    danger_fragment(call)
    call.t += 0.5
    call.barge_in()
    assert call.say("đứng trước cửa nhà tôi") == [AskBrain("tay cầm một cặp đứng trước cửa nhà tôi", mended=True)]
    say = only_say(call.brain("transfer", "", branch=1, reason="danger:violence"))
    assert say.prompt == "danger_violence" and say.interruptible is False
    assert call.finish()[0].reason == "danger:violence"


def test_a_cough_over_the_danger_message_does_not_stop_the_transfer(call: Call, kb):
    danger_fragment(call)
    call.t += 0.5
    call.barge_in()
    say = only_say(call.say(""))  # not a reprompt: the danger message again
    assert say.prompt == "danger_violence" and say.text == kb.danger.kind("violence").message
    assert call.finish()[0].reason == "danger:violence"
    assert call.policy.summary().danger == "violence"


def test_the_model_danger_past_the_window_goes_ahead(call: Call):
    danger_fragment(call)
    call.t += 2.0
    assert call.barge_in() == []
    assert call.finish()[0].reason == "danger:violence"


def test_a_brain_danger_on_the_editors_words_is_never_mended(call: Call):
    call.say("mẹ tôi khó thở quá")  # the editors' phrase already answered it (danger message)
    call.t += 0.5
    assert call.barge_in() == []
    assert isinstance(call.finish()[0], Transfer)
