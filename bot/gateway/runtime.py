"""Bring a gateway up: knowledge base, engines, rendered prompts, the brain, the `CallHost`."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.brain.client import BrainClient
from bot.brain.servers import running_brain
from bot.call.session import call_config, make_engines
from bot.config import Settings
from bot.content.load import load_knowledge_base
from bot.danger.match import DangerMatcher
from bot.gateway.heap import settle_heap
from bot.gateway.host import CallHost

log = logging.getLogger(__name__)


class GatewayError(RuntimeError):
    """The gateway cannot start (broken content, no model, ...): a message for the operator."""


@asynccontextmanager
async def gateway_host(settings: Settings, render: bool = True) -> AsyncIterator[CallHost]:
    """A ready `CallHost`: Rasa and its action server started (or reused), every prompt cached."""
    kb, problems = load_knowledge_base(settings.path(settings.content.dir))
    if kb is None:
        raise GatewayError("the content in data/faq/ has errors; run `bot validate`")
    engines = make_engines(settings, kb)
    if render:
        from bot.tts.render import render_prompts

        stats = await render_prompts(kb, engines.tts, engines.cache, progress=False)
        if stats.rendered:
            log.info("rendered %d prompts", stats.rendered)
    async with running_brain(settings) as brain:
        async with BrainClient(brain.url, brain.token, kb, settings.dialogue.human_branch,
                               settings.rasa.timeout_s) as client:
            host = CallHost(settings, engines, client, call_config(settings))
            await host.load_workers()  # now, not at the first call
            net = engines.danger() if engines.danger else kb.danger
            if net is not None:
                DangerMatcher.shared(net)  # built once here, shared by every call's policy
            if settings.records.enabled:
                from bot.records.store import RecordStore

                host.records = RecordStore.from_settings(settings)
                host.records.start()  # its own thread: migrates, replays the spool; a down database waits
            settle_heap()
            try:
                yield host
            finally:
                await host.aclose()
                if host.records is not None:  # the calls' records are queued by now: write them
                    await asyncio.get_running_loop().run_in_executor(None, host.records.close)
