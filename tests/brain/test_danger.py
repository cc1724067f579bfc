"""The safety net in the real trained brain (Rasa + DangerDetector + actions), typed.

Danger is recognised before any FAQ answer, by the editors' phrases or the net's own model;
ordinary questions that share words with danger are answered or routed as usual, and questions
about other benefits never get a COVID-support answer.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.brain.client import BrainClient
from bot.brain.servers import latest_model
from bot.brain.train import reload_running_server, train
from bot.content.load import load_knowledge_base
from bot.text import strip_diacritics
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
BRAIN_PORT = 5165
KB, _ = load_knowledge_base(ROOT / "data/faq")


@pytest.mark.parametrize("kind, text", [
    ("fire", "cứu với, nhà tôi đang cháy"),
    ("violence", "chồng tôi say rượu đang cầm dao đánh tôi"),
    ("suicide", "em không muốn sống nữa"),
    ("child", "có đứa bé sơ sinh bị bỏ rơi trước cửa nhà tôi"),
    ("poisoning", "con tôi uống nhầm thuốc chuột"),
    ("medical", "bố tôi khó thở lắm, môi tím tái"),
])
async def test_danger_words_say_the_number_and_transfer(brain: BrainClient, conversation, kind, text):
    want = KB.danger.kind(kind)
    for variant in (text, strip_diacritics(text)):
        reply = await brain.turn(f"{conversation}-{variant == text}", variant)
        assert (reply.intent, reply.action, reply.reason) == ("danger", "transfer", f"danger:{kind}"), variant
        assert reply.branch == want.branch(5)
        assert reply.reply == want.message and want.number in reply.reply
        assert reply.recent == [variant]


@pytest.mark.parametrize("text", [
    "ngọn lửa liếm lên tận tầng bốn, cả nhà tôi kẹt trên đó không xuống được",  # no phrase: the model
    "thằng bé nhà bên bị bố nó xích chân cả ngày không cho ăn",
])
async def test_danger_beyond_the_phrases_is_caught_by_the_model(brain: BrainClient, conversation, text):
    reply = await brain.turn(conversation, text)
    assert (reply.action, reply.branch) == ("transfer", 1)
    assert reply.reason.startswith("danger:")


async def test_the_classifiers_emergency_intent_is_a_medical_danger(brain: BrainClient, conversation):
    reply = await brain.turn(conversation, "alo cấp cứu ơi gọi xe giúp tôi với")
    assert (reply.action, reply.branch, reply.reason) == ("transfer", 1, "danger:medical")


@pytest.mark.parametrize("text", [
    "tôi chạy xe ôm thì được hỗ trợ bao nhiêu tiền",
    "tôi nằm viện cấp cứu mười ngày có được hỗ trợ tiền không",
    "lao động tự do được hỗ trợ bao nhiêu tiền",
    "tôi làm tự do",  # "tự" is in "tự tử": a model once put this caller through to 115
])
async def test_ordinary_questions_sharing_danger_words_are_not_danger(brain: BrainClient, conversation, text):
    reply = await brain.turn(conversation, text)
    assert not reply.reason.startswith("danger:")
    assert reply.branch != 1


@pytest.mark.parametrize("text", [
    # A slow caller's pieces between pauses: each was once put through to 115 by the model alone
    # (actions/nlu/danger.py: ordinary_pieces in its training, put_min_words).
    "anh ơi cho em hỏi",
    "rồi sao nữa",
    "để tôi nghĩ đã",
    "giờ đang ở nhờ nhà chị gái",
    "tôi đang ở ngoài đường",
    "vợ tôi đi làm rồi",
])
async def test_ordinary_short_turns_are_not_put_through(brain: BrainClient, conversation, text):
    reply = await brain.turn(conversation, text)
    assert not reply.reason.startswith("danger:"), reply.reason


@pytest.mark.parametrize("text", [
    "bị tai nạn lao động thì công ty phải bồi thường bao nhiêu",
    "công ty nợ lương ba tháng thì tôi kiện ở đâu",
    "sinh con thì được hưởng chế độ thai sản mấy tháng",
    # an ordinary benefit named by a word of the editors' concept che_do_thuong_xuyen
    "con nuôi có được hưởng chế độ thai sản không",
    "mẹ tôi mất thì tiền mai táng phí lĩnh ở đâu",
])
async def test_other_benefits_are_never_answered_with_a_covid_entry(brain: BrainClient, conversation, text):
    reply = await brain.turn(conversation, text)
    assert reply.action != "answer" and reply.faq_id is None
    assert not reply.reason.startswith("danger:")


@pytest.mark.parametrize("branch, text", [
    (3, "tôi test nhanh dương tính, sốt cao, ho nhiều, uống thuốc gì"),
    (2, "test nhanh covid ở đâu gần nhà"),
])
async def test_symptoms_and_testing_reach_branches_three_and_two(brain: BrainClient, conversation, branch, text):
    reply = await brain.turn(conversation, text)
    assert (reply.action, reply.branch) == ("transfer", branch)


# Sentences the model suspects of danger without being sure (P(danger) between config.yml's
# ask_threshold and threshold): no editors' phrase in them, and the caller is asked first.
# Which despairing sentence sits in that band moves with each retrain (the model's scores, not the
# behaviour under test), so the first one the brain asks about is used; none asked fails.
DESPAIRING = ("tôi buồn quá, mất việc rồi, chẳng biết làm gì nữa",
              "mất việc mấy tháng rồi, tôi chẳng biết làm gì nữa",
              "dạo này tôi buồn lắm, nợ nần chồng chất, không biết tính sao",
              "tôi thấy bế tắc quá, không biết làm thế nào nữa",
              "tôi mệt mỏi quá, không muốn cố gắng nữa",
              "nợ nần nhiều quá, tôi mệt mỏi lắm rồi, chẳng muốn cố gắng gì nữa")
# Symptom questions the model may suspect (the doctors' branch without the suspicion); as above,
# the first one asked about is used.
TIRED = ("bố tôi uống thuốc hạ sốt rồi mà vẫn mệt",
         "ông tôi F0 ở nhà, người mệt lả, ăn không vào",
         "mẹ tôi F0 ở nhà, mệt lắm, ăn uống không được")


async def first_asked(brain: BrainClient, conversation: str, texts: tuple[str, ...]) -> str:
    """The first of `texts` the brain asks about (each tried in a conversation of its own)."""
    for i, text in enumerate(texts):
        if (await brain.turn(f"{conversation}-probe{i}", text)).reason.startswith("danger_check:"):
            return text
    pytest.fail(f"none of {texts} was asked about")


async def despairing(brain: BrainClient, conversation: str) -> str:
    return await first_asked(brain, conversation, DESPAIRING)


async def test_a_suspicion_is_asked_about_and_yes_puts_the_caller_through(brain: BrainClient, conversation):
    despair = await despairing(brain, conversation)
    asked = await brain.turn(conversation, despair)
    assert (asked.intent, asked.action, asked.branch) == ("danger_check", "dialog", None)
    assert asked.reason.startswith("danger_check:")
    assert asked.reply == KB.danger.check_question
    through = await brain.turn(conversation, "có")
    kind = KB.danger.kind(through.reason.removeprefix("danger:"))
    assert kind is not None and (through.action, through.branch) == ("transfer", kind.branch(5))
    assert through.reply == kind.message and kind.number in through.reply
    assert despair in through.recent  # the person who takes the call sees what was said


async def test_no_to_the_question_carries_on_with_the_callers_question(brain: BrainClient, conversation):
    asked = await brain.turn(conversation, await first_asked(brain, conversation, TIRED))
    assert asked.reason.startswith("danger_check:")
    carried = await brain.turn(conversation, "không")
    # What the sentence gets without the suspicion: a symptom question goes to the doctors (branch 3).
    assert (carried.action, carried.branch, carried.reason) == ("transfer", 3, "intent:symptoms_advice")


async def test_a_second_suspicion_in_a_row_is_not_asked_again(brain: BrainClient, conversation):
    assert (await brain.turn(conversation, await despairing(brain, conversation))).reason.startswith("danger_check:")
    again = await brain.turn(conversation, await first_asked(brain, f"{conversation}-tired", TIRED))
    assert (again.action, again.branch) == ("transfer", 1) and again.reason.startswith("danger:")


async def test_a_suspicion_after_an_ordinary_turn_is_asked(brain: BrainClient, conversation):
    despair = await despairing(brain, conversation)
    first = await brain.turn(conversation, "lao động tự do được hỗ trợ bao nhiêu tiền")
    assert not first.reason.startswith(("danger", "danger_check"))
    assert (await brain.turn(conversation, despair)).reason.startswith("danger_check:")


async def test_an_editors_new_phrase_is_live_after_train(live_brain, brain: BrainClient, conversation,
                                                         content_copy: Path, tmp_path: Path):
    """validate -> train -> swap, as `make train` does: a phrase an editor adds goes live. Before,
    no phrase matches (the model may guess a kind, with less than full confidence); after, the
    editor's phrase decides, with the editor's kind."""
    settings, _ = live_brain
    sentence = "ông tôi bị ong vò vẽ đốt khắp người"
    before = await brain.turn(conversation, sentence)
    assert not (before.reason == "danger:medical" and before.confidence == 1.0), "pick a sentence no phrase catches"
    path = content_copy / "danger.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("      - rắn cắn\n", "      - rắn cắn\n      - ong vò vẽ\n"),
                    encoding="utf-8")
    own = settings.replace(content={"dir": str(content_copy)}, rasa={"model_dir": str(tmp_path / "models")})
    result = await train(own)
    assert result.ok, [str(p) for p in result.problems]
    assert result.reloaded  # swapped into the running brain
    after = await brain.turn(f"{conversation}-after", sentence)
    assert (after.reason, after.branch, after.confidence) == ("danger:medical", 1, 1.0)
    await reload_running_server(settings, latest_model(settings))  # the shipped model again


async def test_danger_words_told_of_the_past_with_a_question_about_support_are_asked(brain: BrainClient, conversation):
    # An editors' phrase ("ngộ độc") in a sentence that asks about support: asked, not sent to 115.
    asked = await brain.turn(conversation, "năm ngoái tôi bị ngộ độc rượu phải đi viện, bảo hiểm có trả không")
    assert asked.reason == "danger_check:poisoning" and asked.action == "dialog"
    assert asked.reply == KB.danger.check_question
    through = await brain.turn(conversation, "có")
    assert (through.action, through.branch, through.reason) == ("transfer", 1, "danger:poisoning")


async def test_a_story_of_the_past_told_in_pieces_is_asked_about_not_put_through(brain: BrainClient, conversation):
    """A slow caller's pause cuts "hồi tháng ba quán nước nhà tôi ở đầu ngõ ... bị cháy rụi hết cả
    rồi": the second piece alone is a fire now (put through), after the first one, which the bot
    could not answer, it is the past (asked). actions/server/unanswered.py keeps the first piece."""
    piece = "bị cháy rụi hết cả rồi"
    alone = await brain.turn(f"{conversation}-alone", piece)
    assert alone.reason == "danger:fire", "pick a piece that is danger on its own"
    first = await brain.turn(conversation, "hồi tháng ba quán nước nhà tôi ở đầu ngõ")
    assert first.reason.split(":")[0] in ("out_of_scope", "rephrase", "clarify"), first.reason
    after = await brain.turn(conversation, piece)
    assert after.reason == "danger_check:fire" and after.reply == KB.danger.check_question
    # Asked, not lost: "có" puts the caller through.
    assert (await brain.turn(conversation, "có")).reason == "danger:fire"


async def test_after_a_no_to_the_question_the_story_goes_on_and_is_asked_again(brain: BrainClient, conversation):
    asked = await brain.turn(conversation, "năm ngoái tôi bị ngộ độc rượu phải đi viện, bảo hiểm có trả không")
    assert asked.reason == "danger_check:poisoning"
    await brain.turn(conversation, "không")
    piece = "cả đám cưới mấy người ngộ độc rượu"
    assert (await brain.turn(f"{conversation}-alone", piece)).reason == "danger:poisoning", "pick a piece put through alone"
    again = await brain.turn(conversation, piece)
    assert again.reason == "danger_check:poisoning" and again.action == "dialog"
