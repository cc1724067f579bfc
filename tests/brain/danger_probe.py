"""Run by test_danger_thresholds.py in the Rasa environment (.venv-rasa): the DangerDetector's
thresholds on given model probabilities, with the shipped danger.yml and a stand-in model (the
decision under test is the thresholds', not the model's scores). Prints one JSON line."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from actions.nlu.danger import ANYTHING_ELSE, DangerDetector  # noqa: E402
from bot.danger.load import load_danger_net  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


class Scores:
    """Only `labels` is read by DangerDetector.detect; the probabilities come with the call."""
    labels = ["fire", ANYTHING_ELSE]


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
    print(json.dumps(out, ensure_ascii=False))


main()
