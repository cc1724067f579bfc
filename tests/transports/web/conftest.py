"""A gateway with the browser transport on a free port (18080-18099), keyword brain; real engines
(`gateway`) or stand-ins (`fake_gateway`)."""
from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from bot.call.session import call_config
from bot.gateway.host import CallHost
from bot.transports.web import WebServer, start_web
from tests.fakes import KeywordBrain, recogniser_factory


def free_port() -> int:
    for port in range(18080, 18100):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free port in 18080-18099")


@dataclass
class Gateway:
    host: CallHost
    server: WebServer
    brain: KeywordBrain

    @property
    def ws_url(self) -> str:
        return self.server.address.replace("http://", "ws://") + "/ws"


@asynccontextmanager
async def serving(engines, settings, tmp_path) -> AsyncIterator[Gateway]:
    s = settings.replace(privacy={"records_dir": str(tmp_path / "records")}, web={"port": free_port()})
    brain = KeywordBrain()
    host = CallHost(s, engines, brain, call_config(s), asr_factory=recogniser_factory(engines))
    server = await start_web(host, s)
    try:
        yield Gateway(host, server, brain)
    finally:
        await server.close()
        await host.aclose()


@pytest.fixture
async def gateway(engines, settings, tmp_path) -> AsyncIterator[Gateway]:
    async with serving(engines, settings, tmp_path) as gw:
        yield gw


@pytest.fixture
async def fake_gateway(fakes, settings, tmp_path) -> AsyncIterator[Gateway]:
    async with serving(fakes, settings, tmp_path) as gw:
        yield gw
