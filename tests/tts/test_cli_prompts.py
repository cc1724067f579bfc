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


# ── --check --jsonl ──────────────────────────────────────────────────────────────────────

class EchoAsr:
    """Hears the fake engine's audio by its length: 10 ms of it per character of the text it was
    asked to say, so a recording (one second, other length) is told apart from synthesis."""

    def __init__(self, texts: dict[int, str]) -> None:
        self.texts = texts  # samples at 8 kHz -> what the recogniser "hears"
        self.closed = False

    def transcribe(self, samples, rate):
        assert rate == 8000
        return self.texts.get(len(samples), "")

    def close(self):
        self.closed = True


def jsonl(settings, monkeypatch, capsys, asr, *argv: str) -> tuple[int, list[dict], str]:
    import json

    import bot.asr.registry

    monkeypatch.setattr(bot.asr.registry, "make_asr", lambda name, model_dir=None: asr)
    code = run(settings, "--check", "--jsonl", *argv)
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_jsonl_has_one_line_per_sentence_with_its_kind_source_and_cer(settings, engine, tmp_path, kb,
                                                                       monkeypatch, capsys):
    from bot.tts.texts import split_sentences, spoken_texts

    texts = spoken_texts(kb)
    # The fake voice's audio for one sentence (sentence by sentence, as the cache assembles it,
    # 0.01 s per character at 8 kHz) is heard perfectly; nothing else is recognised. The echo
    # knows audio by its length, so the one heard is a text no other text matches in length.
    lengths = {key: sum(len(s) for s in split_sentences(text)) for key, text in texts.items()}
    clear = next(key for key in texts if list(lengths.values()).count(lengths[key]) == 1)
    heard = {lengths[clear] * 80: texts[clear]}
    dirs = ["--cache-dir", str(tmp_path / "cache"), "--recordings", str(tmp_path / "rec")]
    asr = EchoAsr(heard)
    code, rows, err = jsonl(settings, monkeypatch, capsys, asr, *dirs)
    assert code == 1 and "not rendered yet" in err  # the human-readable summary, on stderr
    assert [r["id"] for r in rows] == list(texts)
    assert {r["kind"] for r in rows} == {"answer", "response", "prompt", "danger"}
    by_id = {r["id"]: r for r in rows}
    assert by_id[kb.faqs[0].id]["kind"] == "answer" and by_id[kb.intents[0].id]["kind"] == "response"
    assert by_id["keypad_transfer.3"]["kind"] == "prompt"
    assert all(r["source"] == "synthetic" and r["stale"] is False for r in rows)
    assert by_id[clear]["cer"] == 0.0
    assert all(r["cer"] == 1.0 for r in rows if r["id"] != clear)
    assert asr.closed
    assert not (tmp_path / "cache").exists()  # measuring renders nothing


def test_jsonl_plays_a_current_recording_and_marks_an_old_one_stale(settings, engine, tmp_path, kb,
                                                                     monkeypatch, capsys):
    answer, old = kb.faqs[0], kb.faqs[1]
    record(tmp_path / "rec", answer.id, answer.answer)  # one second: 8000 samples on the line
    record(tmp_path / "rec", old.id, "Câu trả lời cũ.")
    dirs = ["--cache-dir", str(tmp_path / "cache"), "--recordings", str(tmp_path / "rec")]
    code, rows, _ = jsonl(settings, monkeypatch, capsys, EchoAsr({8000: answer.answer}), *dirs,
                       "--only", f"{answer.id},{old.id}")
    assert [(r["id"], r["source"], r["stale"], r["cer"]) for r in rows] == [
        (answer.id, "recording", False, 0.0), (old.id, "synthetic", True, 1.0)]
    assert code == 1  # a stale recording fails the check, as without --jsonl
    assert engine.calls and answer.answer not in engine.calls  # the recording was not synthesised


def test_jsonl_refuses_an_unknown_id(settings, engine, tmp_path, monkeypatch, capsys):
    code, rows, err = jsonl(settings, monkeypatch, capsys, EchoAsr({}), "--cache-dir", str(tmp_path),
                            "--only", "khong_co")
    assert code == 1 and rows == [] and "khong_co" in err
