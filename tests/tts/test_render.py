"""Rendering the whole knowledge base, and the progress bar."""
from __future__ import annotations

import io
from pathlib import Path

from bot.content.checks import CHOICE_PROMPT
from bot.text import sentences
from bot.tts.cache import PromptCache
from bot.tts.render import ProgressBar, render_prompts
from bot.tts.texts import spoken_texts
from tests.tts.conftest import FakeEngine


def test_spoken_texts_cover_answers_responses_every_branch_of_each_prompt_and_the_danger_messages(kb):
    texts = spoken_texts(kb)
    assert len(texts) == len(kb.faqs) + len(kb.intents) + sum(
        6 if "{branch" in raw else 1 for name, raw in kb.prompts.items() if name != CHOICE_PROMPT
    ) + 2 * len(kb.danger.kinds) + 1
    assert CHOICE_PROMPT not in texts  # it names two topics, so it is composed during the call
    assert texts["danger_check"] == kb.danger.check_question  # the +1: asked when danger is only suspected
    fire = kb.danger.kind("fire")
    assert texts["danger_fire"] == fire.message and texts["danger_fire_failed"] == fire.transfer_failed
    assert texts["keypad_transfer.3"] == kb.prompt("keypad_transfer", 3)
    assert "nhánh ba" in texts["keypad_transfer.3"]
    assert texts["greeting"] == kb.prompt("greeting")
    assert texts[kb.faqs[0].id] == kb.faqs[0].answer
    assert not any("{" in t for t in texts.values())


async def test_render_prompts_renders_every_sentence_once_with_progress(tmp_path: Path, kb):
    fake = FakeEngine()
    cache = PromptCache.for_engine(fake, tmp_path)
    seen: list[tuple[int, int]] = []
    stats = await render_prompts(kb, fake, cache, progress=lambda done, total, text: seen.append((done, total)),
                                 extra_texts=["Một câu thêm."])
    unique = {s for t in [*spoken_texts(kb).values(), "Một câu thêm."] for s in sentences(t)}
    assert stats.rendered == len(unique) == len(fake.calls) == len(set(fake.calls))
    assert seen == [(i, len(unique)) for i in range(1, len(unique) + 1)]
    assert all(cache.get(t) is not None for t in spoken_texts(kb).values())
    assert (await render_prompts(kb, fake, cache, progress=False, extra_texts=["Một câu thêm."])).rendered == 0


def test_progress_bar_on_a_log_writes_a_few_lines_and_the_end():
    out = io.StringIO()
    bar = ProgressBar(stream=out, width=10)
    for i in range(1, 101):
        bar(i, 100)
    lines = out.getvalue().splitlines()
    assert 10 <= len(lines) <= 11
    assert lines[-1].startswith("prompts [##########]  100/100")
    assert "[#####.....]" in out.getvalue()


def test_progress_bar_on_a_terminal_redraws_one_line():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    bar = ProgressBar(stream=out, width=4)
    for i in range(1, 5):
        bar(i, 4)
    text = out.getvalue()
    assert text.count("\r") == 4 and text.count("\n") == 1 and "[####]    4/4" in text
