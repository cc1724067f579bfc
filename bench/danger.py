"""Safety-net benchmark: people in danger routed (recall), ordinary callers sent to 115 (false
alarms), on the blind danger splits as written and through the noise channel (bot/noise.py).

Two levels: the danger net alone (bot/danger/match.py, the editors' phrases), and the whole
brain (`brain_outcomes`: what a caller's sentence gets from the running Rasa brain, where the
net runs first and the classifier's emergency and routing intents stand behind it).
The dev split (data/eval/danger_dev.yml) is for tuning phrases; the test split
(danger_test.yml) is only measured, and its misses are never printed.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import yaml

from bot.noise import garbled_copy
from bot.content.load import load_knowledge_base
from bot.danger.match import DangerMatcher

ROOT = Path(__file__).resolve().parent.parent
SPLITS = {"dev": ROOT / "data/eval/danger_dev.yml", "test": ROOT / "data/eval/danger_test.yml"}
ORDINARY = ("safe", "routing", "other_benefit")


def load_split(path: Path) -> dict[str, list[dict]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {key: list(data.get(key) or []) for key in ("danger", *ORDINARY)}


def _texts(items: list[dict], garbled: bool, seed: int) -> list[str]:
    texts = [str(i["text"]) for i in items]
    return garbled_copy(texts, seed) if garbled else texts


def score(split: dict[str, list[dict]], kind_of: Callable[[str], str | None], *, garbled: bool,
          show_misses: bool) -> dict:
    """`kind_of(text)`: the kind of danger the system saw (any string), or None."""
    danger = split["danger"]
    seen = [kind_of(t) for t in _texts(danger, garbled, seed=11)]
    per_kind: dict[str, Counter] = {}
    for item, kind in zip(danger, seen):
        c = per_kind.setdefault(item["kind"], Counter())
        c["n"] += 1
        c["routed"] += kind is not None
        c["right_kind"] += kind == item["kind"]
    n = len(danger)
    result: dict = {
        "n_danger": n,
        "routed": sum(k is not None for k in seen) / n if n else 0.0,
        "right_kind": sum(k == i["kind"] for k, i in zip(seen, danger)) / n if n else 0.0,
        "per_kind": {k: {"n": c["n"], "routed": c["routed"] / c["n"], "right_kind": c["right_kind"] / c["n"]}
                     for k, c in sorted(per_kind.items())},
        "false_alarms": {},
    }
    texts = _texts(danger, garbled, seed=11)
    if show_misses:
        result["missed"] = [t for t, k in zip(texts, seen) if k is None]
    for section in ORDINARY:
        items = split[section]
        alarms = [(t, k) for t in _texts(items, garbled, seed=13) if (k := kind_of(t)) is not None]
        result["false_alarms"][section] = {"n": len(items), "alarms": len(alarms),
                                           "rate": len(alarms) / len(items) if items else 0.0}
        if show_misses:
            result["false_alarms"][section]["examples"] = [f"{k}: {t}" for t, k in alarms]
    return result


def net_kind_of() -> Callable[[str], str | None]:
    kb, problems = load_knowledge_base(ROOT / "data/faq")
    if kb is None or kb.danger is None:
        raise SystemExit("\n".join(str(p) for p in problems))
    matcher = DangerMatcher(kb.danger)

    def kind_of(text: str) -> str | None:
        found = matcher.find(text)
        return found.kind.id if found else None
    return kind_of


def run_net() -> dict:
    kind_of = net_kind_of()
    out = {}
    for name, path in SPLITS.items():
        if not path.exists():
            continue
        split = load_split(path)
        out[name] = {"clean": score(split, kind_of, garbled=False, show_misses=name == "dev"),
                     "garbled": score(split, kind_of, garbled=True, show_misses=name == "dev")}
    return out


if __name__ == "__main__":
    import json
    import sys
    result = run_net()
    if "--all" not in sys.argv:
        for split in result.values():
            for v in split.values():
                v.pop("missed", None)
                for fa in v["false_alarms"].values():
                    fa.pop("examples", None)
    print(json.dumps(result, ensure_ascii=False, indent=1))
