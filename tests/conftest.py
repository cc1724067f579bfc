"""Shared fixtures. Paths resolve from the repository, so tests run from any directory."""
from __future__ import annotations

import shutil
from pathlib import Path

import uuid

import pytest

from bot.brain.client import BrainClient
from bot.brain.servers import latest_model, start_brain, stop_brain
from bot.config import Settings, load_settings
from bot.content.load import load_knowledge_base

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SPEECH = SHARED / "speech"
needs_speech = pytest.mark.skipif(not SPEECH.is_dir(), reason=(
    f"real Vietnamese recordings are read from {SPEECH} (../shared/speech, not in the repo: "
    "non-commercial licences); that folder is absent here"))


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(ROOT / "settings.yml", environ={})


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A private copy of data/faq/ that a test may break."""
    target = tmp_path / "faq"
    shutil.copytree(ROOT / "data/faq", target)
    return target


def brain_settings(settings, port: int, dialogue: dict):
    return settings.replace(rasa={"port": port, "actions_port": port + 50}, dialogue=dialogue)


@pytest.fixture(scope="module")
async def live_brain(settings, request):
    if latest_model(settings) is None:
        pytest.fail("no trained model in models/: `make test` trains one first (make train)")
    port = getattr(request.module, "BRAIN_PORT", 5105)
    s = brain_settings(settings, port, getattr(request.module, "BRAIN_DIALOGUE", {}))
    brain = await start_brain(s)
    assert brain.owned, f"port {port} is taken by another server"
    yield s, brain
    await stop_brain(brain)


@pytest.fixture
async def brain(live_brain):
    settings, running = live_brain
    kb, _ = load_knowledge_base(ROOT / "data/faq")
    async with BrainClient(running.url, running.token, kb, settings.dialogue.human_branch, 10.0) as client:
        yield client


@pytest.fixture
def conversation() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"
