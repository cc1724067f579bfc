"""`bot transcribe`: one line per file, errors on their own line, exit status, quiet stderr."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.asr.metrics import error_rates
from bot.audio.files import write_wav
from bot.cli_transcribe import main

from .conftest import needs_speech, transcripts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt nonsense")
    write_wav(tmp_path / "silence.wav", np.zeros(8000, np.int16), 8000)
    return tmp_path


@needs_speech
def test_jsonl_gives_every_file_its_line_in_order(files, capsys):
    speech, ref = transcripts("vieneu")[2]
    status = main(["--jsonl", str(speech), str(files / "broken.wav"), str(files / "missing.wav"),
                   str(files / "silence.wav")])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 1
    assert [line["file"] for line in lines] == [str(speech), str(files / "broken.wav"),
                                                str(files / "missing.wav"), str(files / "silence.wav")]
    assert error_rates([(ref, lines[0]["text"])])[1] < 0.1
    assert "not a readable audio file" in lines[1]["error"] and "text" not in lines[1]
    assert "no such file" in lines[2]["error"]
    assert lines[3] == {"file": str(files / "silence.wav"), "text": ""}


@needs_speech
def test_plain_output_is_file_tab_text_and_errors_go_to_stderr(files, capsys):
    speech, ref = transcripts("vieneu")[2]
    assert main([str(speech)]) == 0
    name, text = capsys.readouterr().out.rstrip("\n").split("\t")
    assert name == str(speech) and error_rates([(ref, text)])[1] < 0.1
    assert main(["--phone", str(speech), str(files / "missing.wav")]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{speech}\t") and "no such file" in captured.err


def test_unknown_engine_is_a_usage_error(capsys):
    assert main(["--engine", "nope", "x.wav"]) == 2
    err = capsys.readouterr().err
    assert "unknown ASR engine 'nope'" in err and "vietasr" in err


def test_the_command_keeps_stderr_quiet(files):
    """The native library logs INFO lines to stderr unless told not to."""
    done = subprocess.run([sys.executable, "-m", "bot.cli_transcribe", "--jsonl", str(files / "silence.wav")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout) == {"file": str(files / "silence.wav"), "text": ""}


def test_bot_transcribe_uses_the_configured_engine(files, capsys, monkeypatch):
    from bot.cli import main as bot_main

    monkeypatch.setenv("BOT_VOICE_ASR_ENGINE", "nope")  # settings decide when --engine is absent
    assert bot_main(["transcribe", str(files / "silence.wav")]) == 2
    assert "unknown ASR engine 'nope'" in capsys.readouterr().err
    monkeypatch.delenv("BOT_VOICE_ASR_ENGINE")
    assert bot_main(["transcribe", "--jsonl", str(files / "silence.wav")]) == 0
    assert json.loads(capsys.readouterr().out) == {"file": str(files / "silence.wav"), "text": ""}
