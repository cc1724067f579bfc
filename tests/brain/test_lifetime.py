"""Rasa and its action server never outlive the bot that started them, even when it is killed."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
PORT = 5715


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(x) for x in text]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_rasa_stops_when_the_bot_is_killed(settings):
    env = {**os.environ, "BOT_RASA_PORT": str(PORT), "BOT_RASA_ACTIONS_PORT": str(PORT + 50)}
    bot = subprocess.Popen([str(ROOT / ".venv/bin/bot"), "serve"], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    kids: list[int] = []
    try:
        line = bot.stdout.readline()  # printed once Rasa answers
        assert line.startswith("Rasa:"), line
        kids = children(bot.pid)
        assert len(kids) == 2 and all(alive(k) for k in kids)
        bot.send_signal(signal.SIGKILL)  # no chance to clean up
        bot.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(alive(k) for k in kids):
            time.sleep(0.2)
        assert not any(alive(k) for k in kids), "Rasa outlived the bot"
    finally:
        for pid in [bot.pid, *kids]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
