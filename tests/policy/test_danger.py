"""The safety net on a call: danger words stop everything, the message says the number and cannot
be talked over, the transfer follows, a keypad press still works, and a failed transfer repeats
the number and keeps the line open."""
from __future__ import annotations

import pytest

from bot.danger.model import DangerKind, DangerNet
from bot.policy import (AskBrain, CallPolicy, Listen, PolicyConfig, Say, StopSpeaking, Transfer,
                        TransferFailed)
from tests.policy.conftest import Call

ANSWER = "Lao động tự do được hỗ trợ một triệu năm trăm nghìn đồng."


def only(actions, kind):
    found = [a for a in actions if isinstance(a, kind)]
    assert len(found) == 1, actions
    return found[0]


@pytest.fixture
def call(kb) -> Call:
    return Call(CallPolicy(kb.prompt, PolicyConfig(), danger=kb.danger))


@pytest.mark.parametrize("text, kind, number", [
    ("cứu với nhà tôi đang cháy", "fire", "một một bốn"),
    ("nha toi dang chay roi", "fire", "một một bốn"),
    ("chồng tôi đang cầm dao đánh tôi", "violence", "một một ba"),
    ("em không muốn sống nữa", "suicide", "một một năm"),
    ("có đứa trẻ sơ sinh bị bỏ rơi trước cửa", "child", "một một một"),
    ("con tôi uống nhầm thuốc chuột", "poisoning", "một một năm"),
    ("bố tôi khó thở lắm", "medical", "một một năm"),
    ("cap cuu", "medical", "một một năm"),
])
def test_danger_words_say_the_number_then_transfer_without_the_brain(call: Call, kb, text, kind, number):
    call.listening()
    call.say("hỗ trợ hộ nghèo")
    call.brain("answer", ANSWER, faq_id="hn")
    call.finish()
    actions = call.say(text)
    assert not any(isinstance(a, AskBrain) for a in actions)
    say = only(actions, Say)
    declared = kb.danger.kind(kind)
    assert say.text == declared.message and number in say.text
    assert say.interruptible is False and say.prompt == f"danger_{kind}"
    assert not any(isinstance(a, Transfer) for a in actions)  # the message first ...
    done = call.finish(after=6.0)
    assert done == [Transfer(declared.branch(5), f"danger:{kind}", ["hỗ trợ hộ nghèo", " ".join(text.split())], "hn")]
    assert call.policy.summary().outcome == "transferred"
    assert call.policy.summary().reason == f"danger:{kind}"


@pytest.mark.parametrize("text", ["tôi chạy xe ôm được hỗ trợ bao nhiêu", "bị tai nạn lao động có được hỗ trợ không",
                                  "cuộc gọi bị ngắt giữa chừng", "một năm được nhận mấy lần", "cấp hỗ trợ cứu đói"])
def test_ordinary_sentences_go_to_the_brain(call: Call, text):
    call.listening()
    assert call.say(text) == [AskBrain(text)]


def test_the_danger_message_cannot_be_talked_over(call: Call):
    call.listening()
    call.say("nhà tôi đang cháy")
    assert call.barge_in() == []
    assert call.say("alo alo") == []
    assert call.say("cháy to lắm rồi") == []  # more danger words do not restart the message
    assert call.finish()[0].reason == "danger:fire"


def test_danger_interrupts_an_answer_and_a_transfer_announcement(call: Call):
    call.listening()
    call.say("khiếu nại")
    call.brain("transfer", "Tôi chuyển anh chị sang nhánh năm.", branch=5, reason="intent:x")
    actions = call.say("ôi bố tôi ngất rồi")
    assert actions[0] == StopSpeaking()
    assert call.finish() == [Transfer(1, "danger:medical", ["khiếu nại", "ôi bố tôi ngất rồi"])]


def test_danger_while_the_brain_thinks(call: Call):
    call.listening()
    call.say("cho hỏi")
    actions = call.say("có cướp")
    assert only(actions, Say).prompt == "danger_violence"
    assert call.brain("answer", ANSWER) == []
    assert call.finish()[0].branch == 1


@pytest.mark.parametrize("digit, branch", [("1", 1), ("3", 3), ("0", 5)])
def test_a_keypad_press_still_works_during_the_danger_message(call: Call, digit, branch):
    call.listening()
    call.say("nhà tôi đang cháy")
    actions = call.key(digit)
    assert actions[0] == StopSpeaking()
    assert actions[-1] == Transfer(branch, "keypad", ["nhà tôi đang cháy"])


def test_a_failed_transfer_repeats_the_number_and_keeps_the_line(call: Call, kb):
    call.listening()
    call.say("nhà tôi đang cháy")
    call.finish()
    actions = call.send(TransferFailed(call.t + 1, "busy"))
    say = only(actions, Say)
    assert say.text == kb.danger.kind("fire").transfer_failed and "một một bốn" in say.text
    assert say.interruptible is False
    assert call.finish() == [Listen()]  # not a hang-up: the caller can speak or press a key
    assert call.policy.summary().outcome == "in_progress"
    call.say("vẫn cháy, cứu với")  # danger again: the transfer is tried again
    assert call.finish()[0] == Transfer(1, "danger:fire", ["nhà tôi đang cháy", "vẫn cháy, cứu với"])


def test_the_brains_danger_decision_is_handled_like_the_gateways(call: Call, kb):
    call.listening()
    call.say("ngọn lửa liếm lên tận tầng bốn cả nhà kẹt trên đó")  # no editors' phrase
    actions = call.brain("transfer", kb.danger.kind("fire").message, branch=1, reason="danger:fire")
    assert only(actions, Say).interruptible is False
    assert call.key("1")[-1] == Transfer(1, "keypad", ["ngọn lửa liếm lên tận tầng bốn cả nhà kẹt trên đó"])


def test_a_failed_transfer_after_the_brains_danger_decision_repeats_the_number(call: Call, kb):
    call.listening()
    call.say("ngọn lửa liếm lên rồi")
    call.brain("transfer", kb.danger.kind("fire").message, branch=1, reason="danger:fire")
    call.finish()
    say = only(call.send(TransferFailed(call.t + 1, "busy")), Say)
    assert say.text == kb.danger.kind("fire").transfer_failed


def test_transfer_human_follows_the_configured_human_branch(kb):
    kind = DangerKind("fire", "một một bốn", "human", "Gọi một một bốn.", "Gọi một một bốn.", ("đang cháy",))
    call = Call(CallPolicy(kb.prompt, PolicyConfig(human_branch=3), danger=DangerNet((kind,)))).listening()
    call.say("nhà đang cháy")
    assert call.finish() == [Transfer(3, "danger:fire", ["nhà đang cháy"])]


def test_without_a_net_the_brain_still_routes_danger(kb):
    call = Call(CallPolicy(kb.prompt, PolicyConfig())).listening()
    assert call.say("nhà tôi đang cháy") == [AskBrain("nhà tôi đang cháy")]
    call.brain("transfer", "Có cháy, gọi một một bốn.", branch=1, reason="danger:fire")
    call.finish()
    say = only(call.send(TransferFailed(call.t + 1, "busy")), Say)
    assert "một một bốn" in say.text  # the brain's own message, repeated


def asked(call: Call, kb, kind: str = "suicide") -> None:
    """The brain suspects danger and asks (its reply is danger.yml's check_question)."""
    call.listening()
    call.say("tôi buồn quá chẳng biết làm gì nữa")
    actions = call.brain("dialog", kb.danger.check_question, reason=f"danger_check:{kind}")
    assert only(actions, Say).text == kb.danger.check_question
    call.finish(after=7.0)


def test_silence_after_the_danger_question_puts_the_caller_through(call: Call, kb):
    asked(call, kb)
    actions = call.wait(PolicyConfig().no_input_timeout_s + 0.5)
    say = only(actions, Say)
    declared = kb.danger.kind("suicide")
    assert say.text == declared.message and say.interruptible is False
    assert call.finish(after=6.0) == [Transfer(declared.branch(5), "danger:suicide", ["tôi buồn quá chẳng biết làm gì nữa"])]


def test_an_answer_to_the_danger_question_goes_to_the_brain_and_later_silence_only_reprompts(call: Call, kb):
    asked(call, kb)
    assert call.say("không") == [AskBrain("không")]
    call.brain("transfer", "", branch=3, reason="intent:symptoms_advice")  # what "không" carried on with
    assert call.policy.summary().danger is None
    fresh = Call(CallPolicy(kb.prompt, PolicyConfig(), danger=kb.danger))
    asked(fresh, kb)
    fresh.say("không")
    fresh.brain("dialog", "Dạ, anh chị cần hỏi gì ạ?", reason="danger_check_declined")
    fresh.finish()
    say = only(fresh.wait(PolicyConfig().no_input_timeout_s + 0.5), Say)
    assert say.prompt == "empty_input"  # an ordinary reprompt, not a transfer


def test_a_danger_kind_this_gateway_does_not_know_still_puts_a_silent_caller_through(call: Call, kb):
    asked(call, kb, kind="flood")
    say = only(call.wait(PolicyConfig().no_input_timeout_s + 0.5), Say)
    assert say.text == kb.prompt("human_transfer", 1) and say.interruptible is False
    assert call.finish(after=4.0)[0].branch == 1


def test_danger_words_in_a_question_about_support_go_to_the_brain(call: Call):
    # "ngộ độc" is an editors' phrase, but the caller tells of last year and asks about money: the
    # brain decides (it asks whether they are in danger, or puts them through if its model is sure).
    call.listening()
    text = "năm ngoái tôi bị ngộ độc rượu phải đi viện, bảo hiểm có trả không"
    assert call.say(text) == [AskBrain(text)]


# ── the turns before (bot/policy/story.py) ────────────────────────────────────────────────────
NO_ANSWER = "Xin lỗi, tôi chưa có thông tin để trả lời câu hỏi này."
PAST = "năm ngoái cái sạp của tôi ở chợ"


def unanswered(call: Call, text: str = PAST) -> None:
    """The caller says `text`; the brain has no answer for it (out of scope)."""
    call.listening()
    call.say(text)
    call.brain("dialog", NO_ANSWER, reason="out_of_scope", intent="out_of_scope")
    call.finish()


def test_a_piece_of_a_story_about_the_past_goes_to_the_brain_not_straight_to_115(call: Call):
    """"năm ngoái cái sạp của tôi ở chợ" (no answer) ... "bị cháy trụi hết không còn gì": with
    the words before it the fire is the past, so the brain (which knows them too) decides."""
    unanswered(call)
    assert call.say("bị cháy trụi hết không còn gì") == [AskBrain("bị cháy trụi hết không còn gì")]


def test_danger_after_unanswered_words_that_do_not_change_it_is_put_through_at_once(call: Call):
    unanswered(call, "alo alo chị ơi")
    actions = call.say("nhà tôi đang cháy")
    assert not any(isinstance(a, AskBrain) for a in actions)
    assert call.finish(after=6.0)[0].reason == "danger:fire"


def test_an_answer_starts_afresh(call: Call):
    call.listening()
    call.say(PAST)
    call.brain("answer", ANSWER, faq_id="hn", reason="answer", intent="faq")
    call.finish()
    assert not any(isinstance(a, AskBrain) for a in call.say("bị cháy trụi hết không còn gì"))


def test_after_a_no_to_the_safety_question_danger_words_go_to_the_brain(call: Call, kb):
    call.listening()
    call.say("năm ngoái tôi bị ngộ độc rượu, bảo hiểm có trả không")
    call.brain("dialog", kb.danger.check_question, reason="danger_check:poisoning", intent="danger_check")
    call.finish()
    call.say("không")
    call.brain("dialog", "Mời anh chị hỏi.", reason="danger_check_declined", intent="deny")
    call.finish()
    assert call.say("cả đám cưới mấy người ngộ độc rượu") == [AskBrain("cả đám cưới mấy người ngộ độc rượu")]


def test_while_the_brain_decides_danger_words_are_put_through_whatever_came_before(call: Call):
    unanswered(call)
    call.say("giờ tôi bán rong thì")  # the brain is deciding on it
    actions = call.say("bị cháy trụi hết không còn gì")
    assert not any(isinstance(a, AskBrain) for a in actions) and any(isinstance(a, Say) for a in actions)
