"""The reason codes live in one module (bot/policy/reasons.py) that both processes read: the
gateway (Python 3.11) and the Rasa actions (Python 3.10); nothing else spells them."""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from bot.policy import CallPolicy, PolicyConfig, Transfer
from bot.policy.reasons import ENDINGS, LABELS, TRANSFERS, Reason, code_of, detail_of, label
from tests.conftest import ROOT
from tests.policy.conftest import Call

RASA_PYTHON = ROOT / ".venv-rasa/bin/python"
SPELLING = ("import json; from bot.policy.reasons import Reason, LABELS; "
            "print(json.dumps({'codes': {r.name: r.value for r in Reason}, 'str': str(Reason.KEYPAD), "
            "'format': f'{Reason.DANGER}', 'text': Reason.INTENT.text('x'), 'of': Reason.of('danger:fire').name, "
            "'labels': {r.value: t for r, t in LABELS.items()}}, ensure_ascii=False))")


def test_a_reason_travels_as_code_or_code_and_detail():
    assert Reason.KEYPAD.text() == "keypad" and type(Reason.KEYPAD.text()) is str
    assert Reason.ENGINE_FAILED.text("tts:TimeoutError") == "engine_failed:tts:TimeoutError"
    assert (code_of("engine_failed:tts:TimeoutError"), detail_of("engine_failed:tts:TimeoutError")) == (
        "engine_failed", "tts:TimeoutError")
    assert Reason.of("danger:fire") is Reason.DANGER and Reason.of("keypad") is Reason.KEYPAD
    assert Reason.of("no such thing") is None and Reason.of("") is None and Reason.of(None) is None
    assert Reason.DANGER.matches("danger:fire") and not Reason.DANGER.matches("danger_check:fire")
    assert str(Reason.KEYPAD) == f"{Reason.KEYPAD}" == "keypad" and json.dumps([Reason.KEYPAD]) == '["keypad"]'


def test_every_transfer_and_ending_has_a_meaning_for_the_agent():
    assert TRANSFERS.isdisjoint(ENDINGS)
    assert set(LABELS) == TRANSFERS | ENDINGS
    assert label("intent:symptoms_advice") == LABELS[Reason.INTENT] and label("something else") == "something else"
    # The codes the records already hold are still the codes (bot report groups by them).
    assert {r.value for r in TRANSFERS} >= {"keypad", "danger", "intent", "not_understood", "unverified_answer",
                                            "brain_unavailable", "engine_failed", "max_call_length"}
    assert {r.value for r in ENDINGS} >= {"no_input", "goodbye", "caller_hung_up", "transfer_failed"}


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="no Rasa environment (.venv-rasa): `make install-rasa`")
def test_the_rasa_process_reads_the_same_module_on_python_3_10():
    done = subprocess.run([str(RASA_PYTHON), "-c", SPELLING], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    theirs = json.loads(done.stdout)
    assert theirs == {"codes": {r.name: r.value for r in Reason}, "str": "keypad", "format": "danger",
                      "text": "intent:x", "of": "DANGER", "labels": {r.value: t for r, t in LABELS.items()}}


# Where a reason is decided: none of these may spell one as a string literal.
DECIDERS = ["bot/policy/policy.py", "bot/call/session.py", "bot/gateway/host.py", "bot/brain/client.py",
            "actions/actions.py"]
CODES = "|".join(r.value for r in Reason)
DETAILED = "|".join(r.value for r in (Reason.DANGER, Reason.INTENT, Reason.NOT_UNDERSTOOD, Reason.UNVERIFIED_ANSWER,
                                      Reason.BRAIN_UNAVAILABLE, Reason.ENGINE_FAILED, Reason.TRANSFER_FAILED,
                                      Reason.DANGER_CHECK, Reason.CLARIFY, Reason.REPHRASE, Reason.SMALL_TALK))
LITERAL = re.compile(r"""reason=f?["']|Hangup\(f?["']|Transfer\([^()]*,\s*f?["']|"""
                     rf"""(startswith|removeprefix)\(\s*\(?f?["']({CODES})|f?["']({DETAILED}):""")


@pytest.mark.parametrize("path", DECIDERS)
def test_no_reason_is_spelled_outside_the_module(path):
    source = (ROOT / path).read_text(encoding="utf-8")
    found = [f"{path}:{source.count(chr(10), 0, m.start()) + 1}: {m.group(0)}" for m in LITERAL.finditer(source)]
    assert found == []


def test_the_keypad_transfers_to_the_knowledge_bases_branches(kb):
    three = Call(CallPolicy(kb.prompt, PolicyConfig(), branches=[1, 2, 3])).listening()
    assert three.key("4") == []  # not a branch of this hotline: the key means nothing
    three.key("3")
    assert three.finish() == [Transfer(3, "keypad", [])]
    seven = Call(CallPolicy(kb.prompt, PolicyConfig(), branches=kb.branches)).listening()
    assert sorted(kb.branches) == [1, 2, 3, 4, 5, 6]
    seven.key("6")
    assert seven.finish() == [Transfer(6, "keypad", [])]


def test_counted_as_keeps_only_details_from_closed_sets():
    from bot.policy.reasons import counted_as

    assert counted_as("danger:fire") == "danger:fire"
    assert counted_as("intent:symptoms_advice") == "intent:symptoms_advice"
    assert counted_as("brain_unavailable:http_502") == "brain_unavailable"
    assert counted_as("engine_failed:tts:TimeoutError('x')") == "engine_failed"
    assert counted_as("keypad") == "keypad"
    assert counted_as(None) == counted_as("") == "unknown"
