from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def test_defaults_bind_to_localhost(settings):
    assert settings.rasa.host == "127.0.0.1"
    assert settings.rasa.actions_host == "127.0.0.1"
    assert settings.privacy.keep_transcripts is False


def test_environment_overrides_file(tmp_path: Path):
    path = tmp_path / "s.yml"
    path.write_text("rasa: {port: 6000}\ndialogue: {human_branch: 3}\n")
    s = load_settings(path, environ={"BOT_RASA_PORT": "7000", "BOT_PRIVACY_KEEP_TRANSCRIPTS": "yes"})
    assert s.rasa.port == 7000
    assert s.dialogue.human_branch == 3
    assert s.privacy.keep_transcripts is True


@pytest.mark.parametrize("text, message", [
    ("rasa: {prot: 1}\n", "unknown key 'rasa.prot'"),
    ("radio: {}\n", "unknown section"),
    ("rasa: {port: many}\n", "rasa.port: expected int"),
    ("rasa: [1, 2\n", "not valid YAML"),
])
def test_bad_settings_are_explained(tmp_path: Path, text: str, message: str):
    path = tmp_path / "s.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings(path, environ={})
