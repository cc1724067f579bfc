"""Shared fixtures. Paths resolve from the repository, so tests run from any directory."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(ROOT / "settings.yml", environ={})


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A private copy of data/faq/ that a test may break."""
    target = tmp_path / "faq"
    shutil.copytree(ROOT / "data/faq", target)
    return target
