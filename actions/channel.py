"""The brain channel: one HTTP call per caller turn, answering everything the gateway needs.

POST /webhooks/brain/webhook {"sender": call id, "message": text}
-> {"messages": [{"text", "custom"}]}; the first message's `custom` is the turn's decision
   (action, faq_id, branch, reason, recent, intent, confidence), written by actions/actions.py.

Like Rasa's REST channel, plus a bearer token, a health route that says whether a model is loaded,
and input checks. Reading the tracker back here would cost a deserialisation per turn; the
actions already see the parse result, so they put it in the decision.
"""
from __future__ import annotations

import hmac
import os
from typing import Any, Awaitable, Callable, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

TOKEN_ENV = "BRANCH7_BRAIN_TOKEN"


class BrainInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "brain"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("brain_webhook", __name__)
        token = os.environ.get(TOKEN_ENV, "")

        def authorised(request: Request) -> bool:
            if not token:
                return True
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            return hmac.compare_digest(given, token)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            loaded = request.app.ctx.agent is not None and request.app.ctx.agent.is_ready()
            return response.json({"status": "ok" if loaded else "loading",
                                  "model": getattr(request.app.ctx.agent, "model_id", None)})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not authorised(request):
                return response.json({"error": "unauthorised"}, status=401)
            body = request.json or {}
            sender, text = body.get("sender"), body.get("message")
            if not isinstance(sender, str) or not isinstance(text, str) or not text.strip():
                return response.json({"error": "need non-empty 'sender' and 'message'"}, status=400)
            collector = CollectingOutputChannel()
            await on_new_message(UserMessage(text, collector, sender, input_channel=self.name()))
            return response.json({
                "messages": [{"text": m.get("text"), "custom": m.get("custom")} for m in collector.messages],
            })

        return hook
