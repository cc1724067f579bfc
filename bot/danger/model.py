"""The safety net as plain, typed values: the kinds of danger the editors declare in danger.yml.

Standard library only: the Rasa side (actions/) imports it too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HUMAN = "human"  # `transfer: human`: the operator's configured human branch


@dataclass(frozen=True)
class DangerKind:
    id: str
    number: str  # the emergency number, in words, as it is said ("một một bốn")
    transfer: int | str  # a branch 1-6, or HUMAN
    message: str  # said at once, cannot be talked over; the transfer follows
    transfer_failed: str  # said when the transfer fails: the number again; the call stays up
    phrases: tuple[str, ...]  # danger wherever they appear
    weak_phrases: tuple[str, ...] = ()  # danger unless the caller is asking about support
    exceptions: tuple[str, ...] = ()  # spans that hold danger words but are not danger
    examples: tuple[str, ...] = ()  # callers' sentences: the brain's model learns the kind from them
    file: Path = Path()
    line: int = 0

    def branch(self, human_branch: int) -> int:
        return human_branch if self.transfer == HUMAN else int(self.transfer)


@dataclass(frozen=True)
class DangerNet:
    kinds: tuple[DangerKind, ...]  # in the editors' order: the first kind that matches wins
    asking: tuple[str, ...] = ()  # phrases that show a question about support, not a danger now
    files: tuple[Path, ...] = field(default=())
    not_danger: tuple[str, ...] = ()  # ordinary sentences the brain's model must learn are not danger
    # Asked when only the brain's model suspects danger, and not strongly: "có" or keypad 1 puts
    # the caller through, anything else carries on with the question they asked. Empty: no asking.
    check_question: str = ""
    # Said just before a phrase, these cancel it ("không khó thở" is a symptom question, not
    # danger). A phrase that means danger with its negation is written with it ("gọi không tỉnh").
    negations: tuple[str, ...] = ()
    # Said just after a phrase, these deny it ("cấp cứu gì đâu, tôi hỏi tiền").
    denials: tuple[str, ...] = ()
    # With these a caller drops what they were asking and says something else ("tôi hỏi tiền hỗ
    # trợ, à mà khoan, nhà bên cạnh đang cháy"): asking words before one do not make the danger
    # after it a question about support.
    topic_changes: tuple[str, ...] = ()

    def kind(self, kind_id: str) -> DangerKind | None:
        return next((k for k in self.kinds if k.id == kind_id), None)

    def as_dict(self) -> dict:
        """JSON-ready form (saved inside the Rasa model, so a swap brings the phrases live)."""
        return {"asking": list(self.asking), "negations": list(self.negations), "denials": list(self.denials),
                "topic_changes": list(self.topic_changes), "not_danger": list(self.not_danger),
                "check_question": self.check_question, "kinds": [
            {"id": k.id, "number": k.number, "transfer": k.transfer, "message": k.message,
             "transfer_failed": k.transfer_failed, "phrases": list(k.phrases),
             "weak_phrases": list(k.weak_phrases), "exceptions": list(k.exceptions),
             "examples": list(k.examples)}
            for k in self.kinds]}

    @classmethod
    def from_dict(cls, data: dict) -> "DangerNet":
        kinds = tuple(DangerKind(
            id=str(k["id"]), number=str(k["number"]), transfer=k["transfer"], message=str(k["message"]),
            transfer_failed=str(k["transfer_failed"]), phrases=tuple(k["phrases"]),
            weak_phrases=tuple(k.get("weak_phrases", ())), exceptions=tuple(k.get("exceptions", ())),
            examples=tuple(k.get("examples", ())))
            for k in data["kinds"])
        return cls(kinds, tuple(data.get("asking", ())), not_danger=tuple(data.get("not_danger", ())),
                   check_question=str(data.get("check_question") or ""), negations=tuple(data.get("negations", ())), denials=tuple(data.get("denials", ())),
                   topic_changes=tuple(data.get("topic_changes", ())))
