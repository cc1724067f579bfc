import pytest

from bot.call.session import Engines
from tests.call.conftest import engines  # noqa: F401  (the real engines, loaded once)
from tests.fakes import fake_engines


@pytest.fixture
def fakes(tmp_path) -> Engines:
    """Stand-in recogniser, VAD and voice (tests/fakes.py): for tests that only move frames and keys."""
    return fake_engines(tmp_path / "prompts")
