"""Why a call was transferred or ended, and what the brain's other turns were: the reason codes.

The one list. A reason travels as a plain string, `code` or `code:detail`: the code says why, the
detail which one (`intent:request_human`, `danger:fire`, `engine_failed:tts:TimeoutError`,
`unverified_answer:<faq id>`). The Rasa actions (their own Python 3.10 process), the brain
client, the call policy, the session, the transports, the call records, the agents' handoff
(SIP `X-Branch7-Reason`, AMI `BRANCH7_REASON`, the web page) and the metrics all spell reasons
through this module, so it imports nothing but the standard library.

    Reason.KEYPAD.text()               -> "keypad"
    Reason.INTENT.text("symptoms")     -> "intent:symptoms"
    Reason.of("danger:fire")           -> Reason.DANGER   (None for a string that is no reason)
    Reason.DANGER.matches("danger:fire") -> True
    detail_of("danger:fire")           -> "fire"

The emergency words themselves are the editors' (data/faq/danger.yml); the branch numbers are
the editors' too (data/faq/meta.yml, with `dialogue.human_branch` in settings.yml).
"""
from __future__ import annotations

import enum


class Reason(str, enum.Enum):
    """A reason code. The value is what goes on the wire and into the records."""

    # ── transfers: the call is handed to a person ────────────────────────────────────────────
    KEYPAD = "keypad"                          # the caller pressed 0 (a person) or a branch key 1-6
    DANGER = "danger"                          # emergency: the editors' danger words or the brain; detail: the kind
    INTENT = "intent"                          # the brain routed the request to a branch; detail: the intent
    NOT_UNDERSTOOD = "not_understood"          # not understood twice in a row; detail: why
    UNVERIFIED_ANSWER = "unverified_answer"    # the entry's answer is not verified yet; detail: the FAQ id
    OUT_OF_SCOPE_ACCEPTED = "out_of_scope_accepted"  # outside the bot's topics; the caller accepted a person
    BRAIN = "brain"                            # the brain asked for a transfer without saying why
    BRAIN_UNAVAILABLE = "brain_unavailable"    # Rasa down or slow; detail: timeout | unreachable | http_<n> | no_reply
    ENGINE_FAILED = "engine_failed"            # the recogniser or the voice failed; detail: asr:<error> | tts:<error>
    MAX_CALL_LENGTH = "max_call_length"        # the call went on too long (voice.max_call_s)

    # ── endings: the call ends without a transfer ────────────────────────────────────────────
    GOODBYE = "goodbye"                        # the bot said goodbye (the brain's `end`)
    CALLER_DONE = "caller_done"                # the caller had no other question (the brain's `end`)
    NO_INPUT = "no_input"                      # the caller said nothing, reprompts used up
    TRANSFER_FAILED = "transfer_failed"        # the line could not take the transfer; detail: the transport's why
    CALLER_HUNG_UP = "caller_hung_up"
    ASR_UNAVAILABLE = "asr_unavailable"        # no longer given (such calls now go to a person, engine_failed); old records carry it
    ERROR = "error"                            # the call broke (a bug): logged, the line dropped
    BYE = "bye"                                # the bot hung up with no recorded reason
    GATEWAY_DIED = "gateway_died"              # the process answering the call died (SIGKILL, crash, power);
                                               # closed later from its "open" row; detail: process_gone | too_old

    # ── the brain's other turns (decision `dialog`); the policy reads the first two ──────────
    DANGER_CHECK = "danger_check"              # the caller is asked whether they are in danger; detail: the kind
    CLARIFY = "clarify"                        # "A, hay B?"; detail: <faq id a>|<faq id b>
    REPHRASE = "rephrase"                      # not understood once: please say it again; detail: why
    OUT_OF_SCOPE = "out_of_scope"              # outside the bot's topics: a person is offered
    DECLINED_TRANSFER = "declined_transfer"
    DANGER_CHECK_DECLINED = "danger_check_declined"
    AFFIRM = "affirm"
    DENY = "deny"
    REPEAT = "repeat"
    NOTHING_TO_REPEAT = "nothing_to_repeat"
    SMALL_TALK = "small_talk"                  # greetings, thanks; detail: the intent
    GREETING_FIRST_TURN = "greeting_first_turn"  # "chào em" as the first words opens, not ends, a call
    EMPTY_INPUT = "empty_input"                # nothing recognised: not sent to the brain

    def __str__(self) -> str:  # the code, on Python 3.10 and 3.11 alike (format() follows __str__)
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def text(self, detail: object = "") -> str:
        """The reason as it travels: a plain `str`, "code" or "code:detail"."""
        detail = str(detail) if detail is not None else ""
        return f"{self.value}:{detail}" if detail else str(self.value)

    def matches(self, reason: str | None) -> bool:
        """`reason` (a travelling string) has this code."""
        return code_of(reason) == self.value

    @classmethod
    def of(cls, reason: str | None) -> Reason | None:
        """The code of a travelling reason string; None when it is not one of ours."""
        try:
            return cls(code_of(reason))
        except ValueError:
            return None

    @property
    def label(self) -> str:
        """What an agent or a caller reads (Vietnamese)."""
        return LABELS.get(self, self.value)


def code_of(reason: str | None) -> str:
    """"intent:request_human" -> "intent" (a code alone is its own code)."""
    return (reason or "").partition(":")[0]


# Codes whose detail names one of a few things (a danger kind, an intent): kept when counting.
_COUNTED_WITH_DETAIL = frozenset({"danger", "intent"})


def counted_as(reason: str | None) -> str:
    """The reason as metrics and reports count it: "danger:fire" and "intent:symptoms" stay whole,
    other details go ("brain_unavailable:timeout" -> "brain_unavailable"): an error's text or an
    FAQ id would make one Prometheus series per value. The call's record keeps the whole reason."""
    code = code_of(reason)
    if not code:
        return "unknown"
    return reason if code in _COUNTED_WITH_DETAIL else code  # type: ignore[return-value]


def detail_of(reason: str | None) -> str:
    """"engine_failed:tts:TimeoutError" -> "tts:TimeoutError" ("" without a detail)."""
    return (reason or "").partition(":")[2]


TRANSFERS = frozenset({Reason.KEYPAD, Reason.DANGER, Reason.INTENT, Reason.NOT_UNDERSTOOD, Reason.UNVERIFIED_ANSWER,
                       Reason.OUT_OF_SCOPE_ACCEPTED, Reason.BRAIN, Reason.BRAIN_UNAVAILABLE, Reason.ENGINE_FAILED,
                       Reason.MAX_CALL_LENGTH})
ENDINGS = frozenset({Reason.GOODBYE, Reason.CALLER_DONE, Reason.NO_INPUT, Reason.TRANSFER_FAILED,
                     Reason.CALLER_HUNG_UP, Reason.ASR_UNAVAILABLE, Reason.ERROR, Reason.BYE})

LABELS: dict[Reason, str] = {
    Reason.KEYPAD: "người gọi bấm phím",
    Reason.DANGER: "tình huống khẩn cấp",
    Reason.INTENT: "yêu cầu thuộc nhánh khác",
    Reason.NOT_UNDERSTOOD: "tổng đài tự động chưa hiểu câu hỏi",
    Reason.UNVERIFIED_ANSWER: "câu trả lời cần cán bộ xác nhận",
    Reason.OUT_OF_SCOPE_ACCEPTED: "câu hỏi ngoài phạm vi, người gọi muốn gặp tổng đài viên",
    Reason.BRAIN: "theo yêu cầu",
    Reason.BRAIN_UNAVAILABLE: "hệ thống hiểu câu hỏi đang gặp sự cố",
    Reason.ENGINE_FAILED: "lỗi hệ thống",
    Reason.MAX_CALL_LENGTH: "cuộc gọi quá dài",
    Reason.GOODBYE: "tổng đài chào tạm biệt",
    Reason.CALLER_DONE: "người gọi không còn câu hỏi",
    Reason.NO_INPUT: "không nghe thấy người gọi nói",
    Reason.TRANSFER_FAILED: "không chuyển được máy",
    Reason.CALLER_HUNG_UP: "người gọi đã gác máy",
    Reason.ASR_UNAVAILABLE: "không nhận dạng được giọng nói",
    Reason.ERROR: "lỗi hệ thống",
    Reason.BYE: "kết thúc cuộc gọi",
}


def label(reason: str | None) -> str:
    """What an agent reads for a travelling reason string (the string itself if it is not ours)."""
    found = Reason.of(reason)
    return found.label if found is not None else (reason or "")


__all__ = ["ENDINGS", "LABELS", "Reason", "TRANSFERS", "code_of", "detail_of", "label"]
