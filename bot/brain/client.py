"""BrainClient: one caller sentence in, one decision out, whatever happens to Rasa.

Empty input never reaches Rasa. A slow, failing or absent Rasa gives a spoken apology and a
transfer to the human branch, never an exception into the call.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

from bot.content.model import KnowledgeBase
from bot.policy.reasons import Reason
from bot.text import normalise_utterance

log = logging.getLogger(__name__)

ACTIONS = ("answer", "transfer", "dialog", "end")


@dataclass(frozen=True)
class BrainReply:
    """What the bot decided for one caller sentence (the `bot ask --jsonl` record)."""

    text: str
    intent: str | None
    confidence: float
    action: str  # answer | transfer | dialog | end
    faq_id: str | None
    branch: int | None
    reply: str
    reason: str = ""  # bot/policy/reasons.py
    recent: list[str] = field(default_factory=list)
    latency_ms: float = 0.0

    def record(self) -> dict[str, Any]:
        """The public JSON shape (stable keys, in this order)."""
        keys = ("text", "intent", "confidence", "action", "faq_id", "branch", "reply")
        full = asdict(self)
        return {k: full[k] for k in keys}


def reply_from_response(text: str, body: dict[str, Any]) -> BrainReply:
    """Turn the brain channel's JSON into a BrainReply."""
    messages = body.get("messages") or []
    decision = next((m.get("custom") for m in messages if (m.get("custom") or {}).get("action")), None) or {}
    spoken = " ".join(m["text"].strip() for m in messages if m.get("text"))
    action = decision.get("action") if decision.get("action") in ACTIONS else "dialog"
    branch = decision.get("branch")
    return BrainReply(
        text=text,
        intent=decision.get("intent"),
        confidence=round(float(decision.get("confidence") or 0.0), 4),
        action=action,
        faq_id=decision.get("faq_id"),
        branch=int(branch) if branch is not None else None,
        reply=spoken,
        reason=decision.get("reason") or "",
        recent=list(decision.get("recent") or []),
    )


class BrainClient:
    """Talks to the brain channel of a running Rasa server."""

    def __init__(self, url: str, token: str, kb: KnowledgeBase, human_branch: int, timeout_s: float) -> None:
        self._url = f"{url}/webhooks/brain/webhook"
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._kb = kb
        self._human_branch = human_branch
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "BrainClient":
        self._http = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def empty_input(self, text: str) -> BrainReply:
        return BrainReply(text, None, 0.0, "dialog", None, None, self._kb.prompt("empty_input"),
                          Reason.EMPTY_INPUT.text())

    def unavailable(self, text: str, why: str) -> BrainReply:
        branch = self._human_branch
        return BrainReply(text, None, 0.0, "transfer", None, branch, self._kb.prompt("system_error", branch),
                          Reason.BRAIN_UNAVAILABLE.text(why), [text] if text else [])

    async def turn(self, sender: str, text: str) -> BrainReply:
        """Ask the brain about one caller sentence in conversation `sender`."""
        clean = normalise_utterance(text)
        if not clean:
            return self.empty_input(text)
        if self._http is None:
            raise RuntimeError("use `async with BrainClient(...)`")
        started = time.perf_counter()
        try:
            async with self._http.post(self._url, json={"sender": sender, "message": clean}) as resp:
                if resp.status != 200:
                    log.warning("brain answered HTTP %s", resp.status)
                    return self.unavailable(clean, f"http_{resp.status}")
                body = await resp.json()
        except asyncio.TimeoutError:
            log.warning("brain timed out")
            return self.unavailable(clean, "timeout")
        except (aiohttp.ClientError, ValueError) as exc:
            log.warning("brain unreachable: %s", type(exc).__name__)
            return self.unavailable(clean, "unreachable")
        if not body.get("messages"):  # e.g. the action server is down: Rasa says nothing
            log.warning("brain gave no reply (action server down?)")
            return self.unavailable(clean, "no_reply")
        reply = reply_from_response(clean, body)
        return BrainReply(**{**asdict(reply), "latency_ms": (time.perf_counter() - started) * 1000})
