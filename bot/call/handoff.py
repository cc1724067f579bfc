"""What travels with a transfer to the person who takes the call: the handoff context.

When the policy hands a call over, the session builds one `Handoff`: the call's id, the reason
code (bot/policy/reasons.py), the FAQ entry the bot recognised (if any) and a summary, the
caller's last sentences as recognised, phone numbers and other long digit runs masked,
shortened to `privacy.summary_chars` with the newest words kept. Each transport carries it its
own way (SIP: Refer-To URI headers and REFER headers `X-Branch7-*`; AudioSocket: AMI channel
variables `BRANCH7_*`; the web page: the `handed_over` message). docs/handoff.md.

What may leave the bot is `privacy.share_with_agent`, separate from `privacy.keep_transcripts`
(what the records keep): sharing the caller's words with the agent is the point of a handoff;
keeping them on disk is another decision.
  none     nothing: the transfer carries only the branch, as a plain transfer would
  reason   the call id, the reason code and the FAQ entry
  summary  those and the summary (default)
"""
from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from bot.call.records import mask_phone
from bot.text import normalise_utterance

SIP_HEADER_PREFIX = "X-Branch7-"       # X-Branch7-Call, -Reason, -Faq, -Summary
CHANNEL_VARIABLE_PREFIX = "BRANCH7_"    # BRANCH7_CALL, _REASON, _FAQ, _SUMMARY
SEPARATOR = " / "   # between two of the caller's sentences in a summary
ELLIPSIS = "…"      # where older words were cut off
MIN_SUMMARY_CHARS = 20


class Share(str, enum.Enum):
    """`privacy.share_with_agent`."""

    NONE = "none"
    REASON = "reason"
    SUMMARY = "summary"

    @classmethod
    def parse(cls, value: str) -> Share:
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"privacy.share_with_agent: '{value}' is not one of none, reason, summary") from None


@dataclass(frozen=True)
class HandoffConfig:
    share: Share = Share.SUMMARY
    summary_chars: int = 200


@dataclass(frozen=True)
class Handoff:
    """The context of one transfer, already cut down to what may be shared (empty: not shared)."""

    call_id: str
    branch: int
    reason: str = ""
    faq_id: str = ""
    summary: str = ""

    def fields(self) -> dict[str, str]:
        """What the agent gets, by name ("Call", "Reason", "Faq", "Summary"), only what is shared
        and known, in this order. Transports name them `X-Branch7-<name>` or `BRANCH7_<NAME>`."""
        values = {"Call": self.call_id, "Reason": self.reason, "Faq": self.faq_id, "Summary": self.summary}
        return {name: value for name, value in values.items() if value}

    def sip_headers(self) -> list[tuple[str, str]]:
        """As SIP header fields: X-Branch7-Call, X-Branch7-Reason, X-Branch7-Faq, X-Branch7-Summary."""
        return [(SIP_HEADER_PREFIX + name, value) for name, value in self.fields().items()]

    def channel_variables(self) -> list[tuple[str, str]]:
        """As Asterisk channel variables: BRANCH7_CALL, BRANCH7_REASON, BRANCH7_FAQ, BRANCH7_SUMMARY."""
        return [(CHANNEL_VARIABLE_PREFIX + name.upper(), value) for name, value in self.fields().items()]

    def shortened(self, max_chars: int) -> Handoff:
        """The same context with the summary cut to `max_chars` (newest words kept)."""
        return Handoff(self.call_id, self.branch, self.reason, self.faq_id, shorten(self.summary, max_chars))


def build_handoff(call_id: str, branch: int, reason: str, faq_id: str | None, recent: Sequence[str],
                  config: HandoffConfig = HandoffConfig()) -> Handoff:
    """The context of a transfer as `config.share` allows."""
    if config.share is Share.NONE:
        return Handoff("", branch)
    summary = summarise(recent, config.summary_chars) if config.share is Share.SUMMARY else ""
    return Handoff(call_id, branch, reason, faq_id or "", summary)


# ----- the summary ---------------------------------------------------------------------------------
# Digits as the recogniser may write them: figures ("0912 345 678") or Vietnamese words.
_DIGIT_WORDS = ("không", "một", "mốt", "hai", "ba", "bốn", "tư", "năm", "lăm", "sáu", "bảy", "bẩy", "tám",
                "chín", "linh", "lẻ")
_TOKEN = re.compile(r"\d+|\w+|[^\w\s]", re.UNICODE)
MASK_MIN_DIGITS = 7  # a run of this many digits (a phone number, an ID, an account) is masked


def mask_numbers(text: str) -> str:
    """Phone numbers and other runs of at least 7 digits that the caller said, in figures or in
    words or both ("không chín 1 2 ..."), masked: figures as the records mask the caller's number
    ('0912 345 678' -> '091****678'), a run with words as '***'. Shorter numbers (a year, an
    amount, a branch) stay."""
    tokens = list(_TOKEN.finditer(text))
    out: list[str] = []
    pos = i = 0
    while i < len(tokens):
        j, digits, words = i, 0, False
        while j < len(tokens):  # a run: figures and digit words; "." or "-" between two figures
            tok = tokens[j].group(0)
            if tok.isdecimal():
                digits += len(tok)
            elif tok.lower() in _DIGIT_WORDS:
                digits, words = digits + 1, True
            elif not (tok in ".-" and i < j < len(tokens) - 1 and tokens[j - 1].group(0).isdecimal()
                      and tokens[j + 1].group(0).isdecimal()):
                break
            j += 1
        if j == i:
            i += 1
            continue
        if digits >= MASK_MIN_DIGITS:
            start, end = tokens[i].start(), tokens[j - 1].end()
            out += [text[pos:start], "***" if words else mask_phone(text[start:end])]
            pos = end
        i = j
    out.append(text[pos:])
    return "".join(out)


def _printable(text: str) -> str:
    """No control or format characters (line breaks would end a SIP header or an AMI field)."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text)


def summarise(sentences: Sequence[str], max_chars: int) -> str:
    """The caller's sentences, oldest first, as one line of at most `max_chars` characters:
    masked, joined by " / ", older words dropped first ("…" marks the cut)."""
    parts = [mask_numbers(normalise_utterance(_printable(s))) for s in sentences]
    return shorten(SEPARATOR.join(p for p in parts if p), max_chars)


def shorten(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars` characters at a word boundary, keeping its end."""
    max_chars = max(MIN_SUMMARY_CHARS, max_chars)
    if len(text) <= max_chars:
        return text
    kept: list[str] = []
    length = len(ELLIPSIS)
    for word in reversed(text.split(" ")):
        extra = len(word) + (1 if kept else 0)
        if length + extra > max_chars:
            break
        kept.append(word)
        length += extra
    while kept and kept[-1] in (SEPARATOR.strip(), ""):
        kept.pop()  # the cut fell right after a sentence's end
    if not kept:  # one word longer than the room: its end
        return ELLIPSIS + text[-(max_chars - len(ELLIPSIS)):]
    return ELLIPSIS + " ".join(reversed(kept))


__all__ = ["CHANNEL_VARIABLE_PREFIX", "Handoff", "HandoffConfig", "SIP_HEADER_PREFIX", "Share", "build_handoff",
           "mask_numbers", "shorten", "summarise"]
