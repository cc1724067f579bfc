"""For editors: which FAQ entries and intents the brain confuses, with the examples that show it.

Cross-validation of the brain's own model (actions/nlu/ngram_model.py) on the editors' examples: each
example, with its diacritic-free copy, is held out of one of k trainings and classified by it. An
example that lands on another entry points at two entries that overlap: merge them, sharpen their
examples, or accept it. Run by `bot overlap` (Rasa environment, where scikit-learn lives):

    python -m actions.nlu.ngram_overlap [--content data/faq] [--config config.yml] [--folds 5] [--json]

The model is configured as in config.yml, so the report shows what the trained bot would do.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from actions.nlu.ngram_model import NgramConfig, NgramModel
from bot.content.build import training_variants
from bot.content.load import load_knowledge_base
from bot.content.model import KnowledgeBase

SEED = 1022  # the same content always gives the same folds, so reports can be compared


@dataclass(frozen=True)
class Example:
    text: str
    label: str  # faq/<id> or an intent id
    where: str  # file:line of the example in data/faq/


@dataclass(frozen=True)
class Confusion:
    example: Example
    predicted: str
    confidence: float


def _shown(path: Path) -> Path:
    """Relative to the working directory when inside it (data/faq/…), as editors see their files."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def examples_of(kb: KnowledgeBase) -> List[Example]:
    labelled = [(f"faq/{faq.id}", faq) for faq in kb.faqs] + [(intent.id, intent) for intent in kb.intents]
    return [Example(text, label, f"{_shown(item.file)}:{line}")
            for label, item in labelled for text, line in zip(item.examples, item.example_lines)]


def pipeline_config(path: Path) -> NgramConfig:
    """The classifier's settings from Rasa's config.yml."""
    pipeline = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("pipeline") or []
    entry = next((c for c in pipeline if str(c.get("name", "")).endswith("NgramIntentClassifier")), {})
    return NgramConfig.from_mapping(entry)


def cross_validate(examples: Sequence[Example], folds: int, config: NgramConfig = NgramConfig(),
                   concepts: Optional[Dict[str, List[str]]] = None) -> List[Confusion]:
    """Every example (as written and without diacritics) classified by a model that never saw it
    (with the editors' concepts, as the brain trains)."""
    order = list(range(len(examples)))
    random.Random(SEED).shuffle(order)
    fold_of = {index: position % folds for position, index in enumerate(order)}
    confusions = []
    for fold in range(folds):
        train = [(variant, e.label) for i, e in enumerate(examples) if fold_of[i] != fold
                 for variant in training_variants(e.text)]
        held = [e for i, e in enumerate(examples) if fold_of[i] == fold]
        model = NgramModel.fit([t for t, _ in train], [label for _, label in train], config, concepts)
        for example in held:
            probs = model.probabilities(training_variants(example.text))
            for row in probs:  # a confusion as written or without diacritics counts once
                best = int(row.argmax())
                if model.labels[best] != example.label:
                    confusions.append(Confusion(example, model.labels[best], round(float(row[best]), 3)))
                    break
    return confusions


def pairs(confusions: Sequence[Confusion]) -> List[Tuple[Tuple[str, str], List[Confusion]]]:
    """Confusions grouped by the unordered pair of labels, largest group first."""
    grouped: Dict[Tuple[str, str], List[Confusion]] = defaultdict(list)
    for c in confusions:
        grouped[tuple(sorted((c.example.label, c.predicted)))].append(c)
    return sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def report(n_examples: int, folds: int, confusions: Sequence[Confusion], shown_per_pair: int = 5) -> str:
    right = n_examples - len(confusions)
    lines = [f"{n_examples} examples, {folds}-fold cross-validation: {right} ({right / n_examples:.1%}) go to "
             f"their own entry or intent, with and without diacritics."]
    if not confusions:
        return "\n".join(lines + ["No two entries or intents are confused."])
    lines.append("Entries the bot confuses (most first). Merge them, make their examples more distinct, "
                 "or accept the overlap:")
    for (a, b), group in pairs(confusions):
        lines.append(f"\n  {a}  <->  {b}: {len(group)} example(s)")
        for c in group[:shown_per_pair]:
            lines.append(f"    {c.example.where}: \"{c.example.text}\" ({c.example.label}) -> {c.predicted} "
                         f"({c.confidence:.2f})")
        if len(group) > shown_per_pair:
            lines.append(f"    … and {len(group) - shown_per_pair} more (--json lists all)")
    return "\n".join(lines)


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bot overlap", description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", type=Path, default=Path("data/faq"))
    parser.add_argument("--config", type=Path, default=Path("config.yml"), help="Rasa's pipeline configuration")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="every confusion as one JSON object per line")
    args = parser.parse_args(argv)
    kb, problems = load_knowledge_base(args.content)
    if kb is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    examples, folds = examples_of(kb), max(2, args.folds)
    print(f"Training {folds} models on parts of the examples (about {folds * 25} s)…", file=sys.stderr)
    confusions = cross_validate(examples, folds, pipeline_config(args.config),
                                {c.id: list(c.words) for c in kb.concepts})
    if args.json:
        for c in confusions:
            print(json.dumps({**asdict(c.example), "predicted": c.predicted, "confidence": c.confidence},
                             ensure_ascii=False))
    else:
        print(report(len(examples), folds, confusions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
