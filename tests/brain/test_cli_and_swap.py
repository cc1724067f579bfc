"""The `bot` CLI on a real brain, and model changes while conversations are in progress."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess

import pytest

from bot.brain.servers import latest_model
from bot.brain.client import BrainClient
from bot.brain.train import TrainError, reload_running_server, train
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
BRAIN_PORT = 5205
BOT = str(ROOT / ".venv/bin/bot")


def run_bot(args: list[str], stdin: str, port: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "BOT_RASA_PORT": str(port), "BOT_RASA_ACTIONS_PORT": str(port + 50)}
    return subprocess.run([BOT, *args], input=stdin, capture_output=True, text=True, env=env, timeout=300)


async def test_ask_jsonl_prints_one_object_per_line_in_order(live_brain):
    settings, _ = live_brain
    lines = ["lao dong tu do duoc ho tro bao nhieu", "", "cấp cứu", "mai trời có mưa không"]
    done = run_bot(["ask", "--jsonl"], "\n".join(lines) + "\n", settings.rasa.port)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["text"] for r in records] == lines
    for record in records:
        assert list(record) == ["text", "intent", "confidence", "action", "faq_id", "branch", "reply"]
        assert record["action"] in ("answer", "transfer", "dialog", "end")
        assert record["reply"]
    assert records[0]["faq_id"] == "ldtd_muc_ho_tro"
    assert records[1]["intent"] is None and records[1]["action"] == "dialog"
    assert (records[2]["action"], records[2]["branch"]) == ("transfer", 1)


async def test_ask_one_question(live_brain):
    settings, _ = live_brain
    done = run_bot(["ask", "hộ nghèo được hỗ trợ bao nhiêu"], "", settings.rasa.port)
    assert done.returncode == 0, done.stderr
    assert "hộ nghèo" in done.stdout.lower()


async def test_model_swap_keeps_conversations(live_brain, brain, conversation):
    settings, _ = live_brain
    answer = await brain.turn(conversation, "hộ nghèo được hỗ trợ bao nhiêu tiền")
    assert answer.action == "answer"
    assert await reload_running_server(settings, latest_model(settings))
    again = await brain.turn(conversation, "chị nói lại được không")
    # "Repeat" needs the conversation's memory of the last answer: it survived the new model.
    assert (again.reason, again.faq_id) == ("repeat", answer.faq_id)


async def test_another_checkouts_brain_on_the_port_is_left_alone(live_brain, brain, conversation, tmp_path):
    """Two checkouts on one machine: `bot train` in the other one must not swap its model into
    this brain (it once got 401 and failed), and must not talk to it as if it were its own."""
    import dataclasses

    from bot.brain.servers import BrainStartError, brain_health, start_brain

    settings, _ = live_brain
    other = dataclasses.replace(settings, root=tmp_path)  # same port, another checkout's root
    before = await brain_health(settings.rasa.url)
    assert before["checkout"] and before["status"] == "ok"
    assert await reload_running_server(other, latest_model(settings)) is False
    with pytest.raises(BrainStartError, match="another checkout"):
        await start_brain(other)
    assert (await brain_health(settings.rasa.url))["model"] == before["model"]
    assert (await brain.turn(conversation, "hộ nghèo được hỗ trợ bao nhiêu tiền")).action == "answer"


async def test_calls_are_answered_during_a_swap(live_brain):
    settings, running = live_brain
    from bot.content.load import load_knowledge_base

    kb, _ = load_knowledge_base(ROOT / "data/faq")
    # The gateway's own timeout: a turn slower than this would transfer the caller.
    async with BrainClient(running.url, running.token, kb, 5, settings.rasa.timeout_s) as client:
        swap = asyncio.create_task(reload_running_server(settings, latest_model(settings)))
        replies = []
        while not swap.done():
            replies.append(await client.turn(f"swap-{len(replies)}", "hộ nghèo được hỗ trợ bao nhiêu tiền"))
            await asyncio.sleep(0.02)
        assert await swap
    # A swap takes about a second (it took 12 s with DIET): a few turns must land inside it.
    assert len(replies) >= 3, "the swap finished too fast to test anything"
    assert [r.reason for r in replies if r.action != "answer"] == []


async def test_a_corrupt_model_is_refused_and_the_old_one_keeps_serving(live_brain, brain, conversation, tmp_path):
    settings, _ = live_brain
    bad = tmp_path / "broken.tar.gz"
    bad.write_bytes(b"not a model")
    with pytest.raises(TrainError, match="keeps serving the previous one"):
        await reload_running_server(settings, bad)
    reply = await brain.turn(conversation, "hộ nghèo được hỗ trợ bao nhiêu tiền")
    assert reply.action == "answer"


async def test_broken_yaml_leaves_the_previous_model_in_service(live_brain, brain, conversation, content_copy):
    settings, _ = live_brain
    (content_copy / "entries/chi_tra.yml").write_text("faqs:\n  - id: x\n    answer: [unclosed\n", encoding="utf-8")
    models_before = sorted(settings.path(settings.rasa.model_dir).glob("*.tar.gz"))
    result = await train(settings.replace(content={"dir": str(content_copy)}))
    assert not result.ok
    assert any("chi_tra.yml:3" in str(p) or "chi_tra.yml:4" in str(p) for p in result.problems)
    assert sorted(settings.path(settings.rasa.model_dir).glob("*.tar.gz")) == models_before
    still = await brain.turn(conversation, "hộ nghèo được hỗ trợ bao nhiêu tiền")
    assert still.action == "answer"


async def test_cli_validate_reports_file_and_line(content_copy, tmp_path):
    (content_copy / "intents.yml").write_text(
        (content_copy / "intents.yml").read_text(encoding="utf-8").replace("route: branch_4", "route: branch_9"),
        encoding="utf-8")
    settings_file = tmp_path / "settings.yml"
    settings_file.write_text(f"content: {{dir: {content_copy}}}\n")
    done = subprocess.run([BOT, "--settings", str(settings_file), "validate"], capture_output=True, text=True)
    assert done.returncode == 1
    assert f"{content_copy}/intents.yml:" in done.stderr and "unknown branch 'branch_9'" in done.stderr
