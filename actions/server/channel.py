"""The brain channel: one HTTP call per caller turn, answering everything the gateway needs.

POST /webhooks/brain/webhook {"sender": call id, "message": text}
-> {"messages": [{"text", "custom"}]}; the first message's `custom` is the turn's decision
   (action, faq_id, branch, reason, recent, intent, confidence), written by actions/actions.py.

Like Rasa's REST channel, plus what the safety net needs from the turns before (actions/server/
unanswered.py: the caller's unanswered words, a recent "không" to the safety question), a bearer
token, a health route that says whether a model is loaded, input checks, and POST /webhooks/brain/model: a model swap that does not stall calls in progress
(Rasa's own PUT /model loads on the event loop for ~12 s and never frees the old model: +0.5 GB
per swap, measured). Reading the tracker back here would cost a deserialisation per turn; the
actions already see the parse result, so they put it in the decision.
"""
from __future__ import annotations

import asyncio
import ctypes
import gc
import hmac
import logging
import os
from pathlib import Path
from typing import Any, Awaitable, Callable, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.server import rasa_speedups
from actions.server.unanswered import UnansweredTurns
from bot.config import checkout_id

TOKEN_ENV = "BRANCH7_BRAIN_TOKEN"
ENDPOINTS_ENV = "BRANCH7_ENDPOINTS"
PROBE_TEXT = "lao động tự do được hỗ trợ bao nhiêu tiền"
log = logging.getLogger(__name__)


def _load_and_probe(model_file: str, endpoints_file: str) -> Any:
    """Load a model in a worker thread (own event loop) and check it answers a question."""
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints

    async def load() -> Any:
        endpoints = AvailableEndpoints.read_endpoints(endpoints_file) if endpoints_file else None
        agent = await load_agent(model_path=model_file, endpoints=endpoints)
        if not agent.is_ready():
            raise ValueError(f"model {model_file} could not be loaded")
        parsed = await agent.parse_message(PROBE_TEXT)
        if not (parsed.get("intent") or {}).get("name"):
            raise ValueError("the new model does not classify a probe question")
        return agent

    return asyncio.run(load())


def _release_memory() -> None:
    """Free the old model now, and give the pages back to the OS (glibc keeps them otherwise)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass

rasa_speedups.apply()  # Rasa imports this module once at start-up (credentials.yml)


class BrainInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "brain"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("brain_webhook", __name__)
        token = os.environ.get(TOKEN_ENV, "")
        unanswered = UnansweredTurns()

        def authorised(request: Request) -> bool:
            if not token:
                return True
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            return hmac.compare_digest(given, token)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            loaded = request.app.ctx.agent is not None and request.app.ctx.agent.is_ready()
            return response.json({"status": "ok" if loaded else "loading",
                                  "model": getattr(request.app.ctx.agent, "model_id", None),
                                  "checkout": checkout_id()})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not authorised(request):
                return response.json({"error": "unauthorised"}, status=401)
            body = request.json or {}
            sender, text = body.get("sender"), body.get("message")
            if not isinstance(sender, str) or not isinstance(text, str) or not text.strip():
                return response.json({"error": "need non-empty 'sender' and 'message'"}, status=400)
            collector = CollectingOutputChannel()
            await on_new_message(UserMessage(text, collector, sender, input_channel=self.name(),
                                             metadata=unanswered.metadata(sender, text)))
            # The turn's decision rides on the first message with an action (actions/actions.py decide).
            decision = next((m["custom"] for m in collector.messages if (m.get("custom") or {}).get("action")), {})
            unanswered.after(sender, text, decision.get("reason"), decision.get("intent"))
            return response.json({
                "messages": [{"text": m.get("text"), "custom": m.get("custom")} for m in collector.messages],
            })

        @hook.route("/model", methods=["POST"])
        async def swap_model(request: Request) -> HTTPResponse:
            if not authorised(request):
                return response.json({"error": "unauthorised"}, status=401)
            model_file = (request.json or {}).get("model_file")
            if not isinstance(model_file, str) or not Path(model_file).is_file():
                return response.json({"error": "need 'model_file', an existing model"}, status=400)
            loop = asyncio.get_running_loop()
            try:
                agent = await loop.run_in_executor(None, _load_and_probe, model_file, os.environ.get(ENDPOINTS_ENV, ""))
            except Exception as exc:  # noqa: BLE001 - any failure keeps the old model in service
                log.error("model swap refused: %s", exc)
                return response.json({"error": f"model not loaded, previous model kept: {exc}"}, status=422)
            old = request.app.ctx.agent
            agent.lock_store = old.lock_store  # conversations in progress keep their locks
            request.app.ctx.agent = agent
            del old
            await loop.run_in_executor(None, _release_memory)
            return response.json({"model": Path(model_file).name})

        return hook
