"""Run by test_danger_thresholds.py in the Rasa environment (.venv-rasa): the DangerDetector's
thresholds on given model probabilities, with the shipped danger.yml and a stand-in model (the
decision under test is the thresholds', not the model's scores). Prints one JSON line."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from rasa.shared.nlu.constants import INTENT, TEXT  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402

from actions.nlu.danger import ANYTHING_ELSE, DangerDetector  # noqa: E402
from actions.server.unanswered import BEFORE_KEY, DECLINED_KEY  # noqa: E402
from bot.danger.load import load_danger_net  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


class Scores:
    """Only `labels` is read by DangerDetector.detect; the probabilities come with the call.
    `process` asks `probabilities`: P(fire) per text from `p_fire` (0 for any other text)."""
    labels = ["fire", ANYTHING_ELSE]
    p_fire: dict = {}

    def probabilities(self, texts):
        return np.array([[self.p_fire.get(t, 0.0), 1 - self.p_fire.get(t, 0.0)] for t in texts])


def processed(detector: DangerDetector, text: str, metadata: dict | None = None) -> str | None:
    """The intent `process` gives one message (danger, danger_check, or None for neither)."""
    message = Message(data={TEXT: text, "metadata": metadata})
    detector.process([message])
    intent = (message.get(INTENT) or {}).get("name")
    return intent if intent in ("danger", "danger_check") else None


def main() -> None:
    net, problems = load_danger_net(ROOT / "data/faq")
    assert net is not None, problems
    detector = DangerDetector({"threshold": 0.5, "ask_threshold": 0.2, "unanswered_ask_threshold": 0.15,
                               "ask_min_words": 5, "put_min_words": 6},
                              None, None, net, Scores())  # type: ignore[arg-type]
    text = "chuyện nhà tôi dài lắm cô ạ"  # no editors' phrase in it
    out = {}
    for p in (0.1, 0.17, 0.3, 0.6):
        probs = np.array([p, 1 - p])
        out[str(p)] = [detector.detect(text, probs, unanswered) for unanswered in (False, True)]
    # What a detection makes of a turn, by its length: (text, p) -> intent name or None.
    short, long = "để tôi nghĩ đã", "chuyện nhà tôi dài lắm cô ạ"
    out["decide"] = {f"{t}|{p}": detector.decide(t, detector.detect(t, np.array([p, 1 - p])))
                     for t in (short, long) for p in (0.3, 0.6)}
    out["decide"]["phrase"] = detector.decide("cháy rồi", detector.detect("cháy rồi", np.array([0.0, 1.0])))

    # The turns before (actions/server/unanswered.py): the caller's unanswered words, a "không".
    story = DangerDetector({"threshold": 0.5, "ask_threshold": 0.2, "ask_min_words": 5, "put_min_words": 6,
                            "with_before": True, "asking_threshold": 0.8},
                           None, None, net, Scores())  # type: ignore[arg-type]
    past, piece = "năm ngoái cái sạp của tôi ở chợ", "bị cháy trụi hết không còn gì"
    out["story"] = {
        "alone": processed(story, piece),
        "after the past": processed(story, piece, {BEFORE_KEY: past}),
        "after other words": processed(story, piece, {BEFORE_KEY: "alo alo cô ơi"}),
        "after a no": processed(story, "nhà tôi cháy rồi", {DECLINED_KEY: True}),
    }
    # The model alone, in words that tell of the past: put through only when very sure.
    out["past"] = {}
    for told in ("năm ngoái tôi bị một thằng say rượu nó đâm",  # no editors' phrase
                 "hồi tháng hai nhà tôi bị chập điện cháy mất gian bếp"):  # a phrase, asking
        for p in (0.6, 0.9):
            Scores.p_fire = {told: p}
            out["past"][f"{told}|{p}"] = processed(story, told)
    print(json.dumps(out, ensure_ascii=False))


main()
