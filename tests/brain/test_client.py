"""BrainClient against a stand-in HTTP server: parsing, and every way Rasa can fail."""
from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from bot.brain.client import BrainClient
from bot.content.load import load_knowledge_base
from tests.conftest import ROOT

KB, _ = load_knowledge_base(ROOT / "data/faq")


async def serve(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/webhooks/brain/webhook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def client(url: str, timeout_s: float = 2.0) -> BrainClient:
    return BrainClient(url, "secret", KB, human_branch=5, timeout_s=timeout_s)


async def test_answer_is_parsed_and_token_sent():
    seen = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Authorization"), await request.json()))
        return web.json_response({
            "messages": [
                {"text": "Câu trả lời.", "custom": {"action": "answer", "faq_id": "ldtd_muc_ho_tro",
                                                   "branch": None, "reason": "", "intent": "faq",
                                                   "confidence": 0.97}},
                {"text": "Còn gì nữa không?", "custom": {"action": None}}]})

    runner, url = await serve(handler)
    try:
        async with client(url) as brain:
            reply = await brain.turn("call-1", "  lao động   tự do  ")
    finally:
        await runner.cleanup()
    assert seen == [("Bearer secret", {"sender": "call-1", "message": "lao động tự do"})]
    assert reply.record() == {"text": "lao động tự do", "intent": "faq", "confidence": 0.97,
                              "action": "answer", "faq_id": "ldtd_muc_ho_tro", "branch": None,
                              "reply": "Câu trả lời. Còn gì nữa không?"}


async def test_empty_input_never_reaches_rasa():
    calls = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(1)
        return web.json_response({})

    runner, url = await serve(handler)
    try:
        async with client(url) as brain:
            replies = [await brain.turn("c", text) for text in ("", "   ", "\t\n")]
    finally:
        await runner.cleanup()
    assert calls == []
    assert all(r.action == "dialog" and r.reply == KB.prompt("empty_input") for r in replies)


async def test_slow_brain_transfers_with_an_apology():
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return web.json_response({})

    runner, url = await serve(handler)
    try:
        async with client(url, timeout_s=0.2) as brain:
            reply = await brain.turn("c", "xin chào")
    finally:
        await runner.cleanup()
    assert (reply.action, reply.branch, reply.reason) == ("transfer", 5, "brain_unavailable:timeout")
    assert reply.reply == KB.prompt("system_error", 5)
    assert "nhánh năm" in reply.reply


@pytest.mark.parametrize("status, body, reason", [
    (500, {}, "brain_unavailable:http_500"),
    (200, {"messages": []}, "brain_unavailable:no_reply"),
])
async def test_broken_brain_transfers(status, body, reason):
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body, status=status)

    runner, url = await serve(handler)
    try:
        async with client(url) as brain:
            reply = await brain.turn("c", "xin chào")
    finally:
        await runner.cleanup()
    assert (reply.action, reply.reason) == ("transfer", reason)


async def test_no_server_at_all():
    async with client("http://127.0.0.1:9") as brain:
        reply = await brain.turn("c", "xin chào")
    assert (reply.action, reply.branch, reply.reason) == ("transfer", 5, "brain_unavailable:unreachable")
