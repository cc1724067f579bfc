"""What the brain channel remembers of a call for the safety net (actions/server/unanswered.py):
the caller's words the bot has not answered yet, and a recent "không" to the safety question."""
from __future__ import annotations

from actions.server.unanswered import BEFORE_KEY, DECLINED_KEY, UnansweredTurns
from bot.policy.story import DECLINED_TURNS, MAX_WORDS


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_unanswered_words_go_with_the_next_turn_and_an_answer_clears_them():
    turns = UnansweredTurns()
    turns.after("call", "năm ngoái cái sạp của tôi ở chợ", "out_of_scope", "out_of_scope")
    assert turns.metadata("call", "bị cháy trụi hết") == {BEFORE_KEY: "năm ngoái cái sạp của tôi ở chợ"}
    turns.after("call", "bị cháy trụi hết", "rephrase:low_confidence", "nlu_fallback")
    assert turns.metadata("call", "giờ tôi bán rong") == {BEFORE_KEY: "năm ngoái cái sạp của tôi ở chợ bị cháy trụi hết"}
    turns.after("call", "giờ tôi bán rong", "answer", "faq")
    assert turns.metadata("call", "cảm ơn") is None
    assert turns.metadata("other call", "bị cháy trụi hết") is None


def test_a_turn_that_already_holds_the_words_gets_none_before_it():
    """The gateway joined a fragment and its continuation (the mend window) into one turn."""
    turns = UnansweredTurns()
    turns.after("call", "tay cầm một cặp", "out_of_scope", "out_of_scope")
    assert turns.metadata("call", "tay cầm một cặp lồng cơm đi phát") is None


def test_words_are_kept_for_a_while_and_only_the_latest():
    clock = Clock()
    turns = UnansweredTurns(max_age_s=60, clock=clock)
    for i in range(MAX_WORDS):
        turns.after("call", f"w{i}", "out_of_scope", None)
    turns.after("call", "cuối", "out_of_scope", None)
    before = turns.metadata("call", "tám")[BEFORE_KEY].split()
    assert len(before) == MAX_WORDS and before[0] == "w1" and before[-1] == "cuối"
    clock.now = 61
    assert turns.metadata("call", "tám") is None


def test_few_calls_are_remembered_at_most():
    turns = UnansweredTurns(max_conversations=2)
    for call in ("a", "b", "c"):
        turns.after(call, f"lời của {call}", "out_of_scope", None)
    assert turns.metadata("a", "x") is None and turns.metadata("c", "x") == {BEFORE_KEY: "lời của c"}


def test_a_no_to_the_safety_question_keeps_the_story_and_holds_for_the_next_turns():
    turns = UnansweredTurns()
    turns.after("call", "kiốt nhà em cháy hồi tháng tư", "danger_check:fire", "danger_check")
    turns.after("call", "không", "out_of_scope", "deny")  # the bot then answers the first words
    assert turns.metadata("call", "lửa to lắm") == {BEFORE_KEY: "kiốt nhà em cháy hồi tháng tư", DECLINED_KEY: True}
    turns.after("call", "lửa to lắm", "answer", "faq")
    for _ in range(DECLINED_TURNS - 1):
        assert turns.metadata("call", "mấy xe cứu hỏa mới dập được") == {DECLINED_KEY: True}
        turns.after("call", "mấy xe cứu hỏa mới dập được", "answer", "faq")
    assert turns.metadata("call", "giờ tôi hỏi vay vốn") is None


def test_a_yes_or_no_is_not_part_of_the_story_and_a_no_without_the_question_is_no_decline():
    turns = UnansweredTurns()
    turns.after("call", "không", "out_of_scope", "deny")
    assert turns.metadata("call", "nhà tôi cháy rồi") is None
