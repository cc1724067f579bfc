"""`bot prompts` and `bot prompts --check` (with the fake engine, so it takes milliseconds)."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import bot.tts
from bot.cli_prompts import add_parser
from tests.tts.conftest import FakeEngine, record


def run(settings, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["prompts", *argv])
    return args.func(settings, args)


@pytest.fixture
def engine(monkeypatch) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(bot.tts, "make_tts", lambda name, model_dir=None: fake)
    return fake


def test_render_then_check(settings, engine: FakeEngine, tmp_path: Path, kb, capsys):
    dirs = ["--cache-dir", str(tmp_path / "cache"), "--recordings", str(tmp_path / "rec")]
    assert run(settings, "--check", *dirs) == 1  # nothing rendered yet
    assert "not rendered yet" in capsys.readouterr().out
    assert run(settings, *dirs) == 0
    out, err = capsys.readouterr()
    assert f"{len(engine.calls)} sentences rendered" in out and "prompts [" in err
    assert run(settings, "--check", *dirs) == 0
    assert "0 stale, 0 orphan; 0 sentences not rendered yet" in capsys.readouterr().out


def test_check_names_stale_and_orphan_recordings(settings, engine: FakeEngine, tmp_path: Path, kb, capsys):
    record(tmp_path / "rec", kb.faqs[0].id, "Một câu trả lời cũ.")
    record(tmp_path / "rec", "da_xoa", "Gì đó.")
    dirs = ["--cache-dir", str(tmp_path / "cache"), "--recordings", str(tmp_path / "rec")]
    run(settings, *dirs)
    capsys.readouterr()
    assert run(settings, "--check", *dirs) == 1
    out = capsys.readouterr().out
    assert f"{kb.faqs[0].id}.wav: stale: the text changed" in out
    assert "da_xoa.wav: orphan" in out
    assert "0 ok, 1 stale, 1 orphan; 0 sentences not rendered yet" in out


def test_a_neural_engine_without_its_model_is_a_clear_error(settings, tmp_path: Path, capsys):
    assert run(settings, "--engine", "piper", "--cache-dir", str(tmp_path)) == 1
    assert "needs a model directory" in capsys.readouterr().err
