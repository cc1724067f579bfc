"""A gateway with the studio on a free port, over a private copy of the knowledge base.

The calls' engines are the fakes (tests/fakes.py: the voice is a tone, so synthesis is visible
in `FakeVoice.calls`); the studio's word check uses the real recogniser (vietasr), as in service.
"""
from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from bot.call.records import CallRecorder
from bot.call.session import CallSession, Engines, call_config
from bot.call.virtual_clock import VirtualClock, parse_script, run_call
from bot.config import Settings
from bot.content.load import load_knowledge_base
from bot.gateway.host import CallHost
from bot.studio.auth import hash_password, write_users
from bot.transports.web import WebServer, start_web
from bot.tts.cache import PromptCache
from bot.tts.recordings import RecordedPrompts
from tests.conftest import ROOT, SPEECH
from tests.fakes import FakeAsr, FakeVad, FakeVoice, KeywordBrain, recogniser_factory

EDITOR, PASSWORD = "lan", "mat-khau-cua-lan-2026"


def transcript(name: str) -> str:
    """The text of a recording under ../shared/speech (`vieneu/ly_female_north.wav`)."""
    folder, file = name.split("/")
    rows = (SPEECH / folder / "transcripts.tsv").read_text(encoding="utf-8").splitlines()
    return dict(row.split("\t", 1) for row in rows)[file]


def set_prompt(content: Path, name: str, text: str) -> None:
    """What an editor does in data/faq/prompts.yml: give a prompt a new text."""
    path = content / "prompts.yml"
    source, n = re.subn(rf'^  {name}: ".*"$', f'  {name}: "{text}"', path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert n == 1, f"no prompt {name} in {path}"
    path.write_text(source, encoding="utf-8")


@dataclass
class StudioGateway:
    settings: Settings
    content: Path
    recordings: Path
    work: Path
    engines: Engines
    host: CallHost
    server: WebServer

    @property
    def base(self) -> str:
        return self.server.address + "/studio"

    def kb(self):
        kb, problems = load_knowledge_base(self.content)
        assert kb is not None, problems
        return kb

    async def call(self, tmp_path: Path) -> tuple[list[dict], np.ndarray, FakeVoice]:
        """A simulated call (virtual clock) on the gateway's prompt cache and recordings, with
        the knowledge base as the editors left it: the caller listens to the greeting, hangs up."""
        voice = self.engines.tts
        assert isinstance(voice, FakeVoice)
        engines = replace(self.engines, kb=self.kb())
        events: list[dict] = []
        clock = VirtualClock()
        call_id = f"studio-{uuid.uuid4().hex[:8]}"
        recorder = CallRecorder(tmp_path / "records", call_id, "", False)
        config = call_config(self.settings)
        session = CallSession(call_id, engines, KeywordBrain(), config, clock, events.append, recorder)
        audio: list[np.ndarray] = []
        await run_call(session, parse_script([]), clock, config.rate, bot_audio=audio, max_s=120)
        return events, np.concatenate(audio), voice


@pytest.fixture
def studio_settings(settings: Settings, tmp_path: Path) -> Settings:
    content = tmp_path / "faq"
    shutil.copytree(ROOT / "data/faq", content)
    return settings.replace(
        content={"dir": str(content)},
        voice={"recordings_dir": str(tmp_path / "recordings"), "prompt_cache_dir": str(tmp_path / "prompts")},
        studio={"users_file": str(tmp_path / "users"), "work_dir": str(tmp_path / "studio")},
        privacy={"records_dir": str(tmp_path / "records")}, web={"port": 0})


@pytest.fixture
def editor(studio_settings: Settings) -> tuple[str, str]:
    write_users(studio_settings.path(studio_settings.studio.users_file), {EDITOR: hash_password(PASSWORD)})
    return EDITOR, PASSWORD


@pytest.fixture
async def studio(studio_settings: Settings) -> AsyncIterator[StudioGateway]:
    s = studio_settings
    content = s.path(s.content.dir)
    kb, _ = load_knowledge_base(content)
    voice = FakeVoice()
    recordings = s.path(s.voice.recordings_dir)
    cache = PromptCache.for_engine(voice, s.path(s.voice.prompt_cache_dir), recordings=RecordedPrompts(recordings))
    engines = Engines(asr=FakeAsr(), tts=voice, cache=cache, vad=FakeVad, kb=kb)
    host = CallHost(s, engines, KeywordBrain(), call_config(s), asr_factory=recogniser_factory(engines))
    server = await start_web(host, s)
    try:
        yield StudioGateway(s, content, recordings, s.path(s.studio.work_dir), engines, host, server)
    finally:
        await server.close()
        await host.aclose()


async def log_in(http: aiohttp.ClientSession, base: str, user: str, password: str) -> aiohttp.ClientResponse:
    """The login form as a browser submits it: its CSRF token from the form, the cookie it set."""
    form = await (await http.get(f"{base}/login")).text()
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token, form
    return await http.post(f"{base}/login", data={"user": user, "password": password, "csrf": token.group(1)},
                           allow_redirects=False)


def client() -> aiohttp.ClientSession:
    # unsafe=True: keep cookies for 127.0.0.1 (aiohttp drops cookies of IP hosts by default).
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
