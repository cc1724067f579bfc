"""The brain's classifier: one linear model over word and character n-grams that picks the intent
and, for FAQ questions, the entry (Rasa's intent classifier and response selector in one).

Why it replaced DIET + ResponseSelector (docs/architecture.md, "The classifier, and why not
DIET"): on the blind dev split it chooses the right action more often (98.1 % against 95.1 %
before thresholds), rejects out-of-scope questions better (99 % against 85 %), and trains in about
25 s instead of 13-20 min, so an editor's new example goes live in a minute. Probabilities are a softmax over every label
(`faq/<id>` counts as a label), so an out-of-scope sentence that resembles nothing spreads its
probability and falls under the FallbackClassifier's threshold.

Output, in Rasa's own format so the rules, the FallbackClassifier and actions/actions.py read it
unchanged: `intent` / `intent_ranking`, where `faq` carries its most likely entry's probability
(so the FallbackClassifier weighs one answer against one other intent: summing the 57 entries made
vague questions look like confident FAQ questions, 96.1 % against 98.1 % on dev), and
`response_selector.faq` with each entry's probability given that the question is an FAQ.
The model itself (features, training, saving) is actions/nlu/ngram_model.py; this is Rasa's side.
"""
from __future__ import annotations

import contextlib
import hashlib
import random
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Tuple

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from actions.nlu.concepts import lookup_tables
from actions.nlu.ngram_model import NgramConfig, NgramModel
from bot.noise.learned import TABLE, LearnedChannel

RESPONSE_SELECTOR = "response_selector"
_NOISE = Path(__file__).resolve().parents[2] / "bot" / "noise"
CODE = (Path(__file__), Path(__file__).with_name("ngram_model.py"), Path(__file__).with_name("concepts.py"),
        _NOISE.parent / "phrases.py", _NOISE / "learned.py", _NOISE / "syllable.py", TABLE)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class NgramIntentClassifier(GraphComponent, IntentClassifier):
    """Intent + FAQ entry from a multinomial logistic regression on n-gram TF-IDF."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        defaults = NgramConfig()
        return {"char_ngrams": list(defaults.char_ngrams), "word_ngrams": list(defaults.word_ngrams),
                "C": defaults.C, "max_iter": defaults.max_iter, "class_weights": {},
                "ranking_length": 10, "retrieval_intent": "faq", "noisy_copies": 0, "noise_severity": 2.0,
                "concepts": True}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Optional[NgramModel] = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """The model's code is part of the fingerprint: Rasa's training cache must not hand back a
        model trained by an older version of it."""
        return hashlib.sha256(b"".join(path.read_bytes() for path in CODE)).hexdigest()

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "NgramIntentClassifier":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [(m.get(TEXT) or "", m.get(INTENT_RESPONSE_KEY) or m.get(INTENT))
                    for m in training_data.intent_examples]
        examples = [(text, label) for text, label in examples if text.strip() and label]
        examples += self._noisy(examples)
        concepts = lookup_tables(training_data.lookup_tables) if self.config["concepts"] else {}
        self.model = NgramModel.fit([t for t, _ in examples], [label for _, label in examples],
                                    NgramConfig.from_mapping(self.config), concepts)
        with self._model_storage.write_to(self._resource) as directory:
            self.model.save(directory)
        return self._resource

    def _noisy(self, examples: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
        """Copies of the examples as the recogniser mishears them (bot/noise/learned.py, its
        measured mistakes): callers never type, every sentence reaches the brain through it."""
        copies = int(self.config["noisy_copies"])
        if copies <= 0:
            return []
        channel = LearnedChannel.measured(float(self.config["noise_severity"]))
        rng = random.Random(1022)  # deterministic: the same data gives the same model
        return [(channel.garble(text, rng), label) for text, label in examples for _ in range(copies)]

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "NgramIntentClassifier":
        with contextlib.ExitStack() as stack:
            try:
                directory = stack.enter_context(model_storage.read_from(resource))
            except ValueError:  # nothing was trained (no NLU data): answer nothing rather than fail
                return cls(config, model_storage, resource)
            # A damaged file raises here, so a broken model is refused and the old one keeps serving.
            return cls(config, model_storage, resource, NgramModel.read(directory))

    # --- prediction -----------------------------------------------------------------------------
    def process(self, messages: List[Message]) -> List[Message]:
        if self.model is None or not messages:
            return messages
        for message, probs in zip(messages, self.model.probabilities([m.get(TEXT) or "" for m in messages])):
            self._annotate(message, probs)
        return messages

    def _annotate(self, message: Message, probs: np.ndarray) -> None:
        retrieval = self.config["retrieval_intent"]
        by_intent: Dict[str, float] = {}
        entries: List[Tuple[str, float]] = []
        for label, p in zip(self.model.labels, probs.tolist()):
            intent = label.split("/", 1)[0]
            by_intent[intent] = max(by_intent.get(intent, 0.0), p)
            if intent == retrieval and "/" in label:
                entries.append((label, p))
        ranking = sorted(by_intent.items(), key=lambda kv: -kv[1])[: self.config["ranking_length"]]
        intents = [{INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: conf} for name, conf in ranking]
        message.set(INTENT, intents[0], add_to_output=True)
        message.set(INTENT_RANKING_KEY, intents, add_to_output=True)
        if entries:
            message.set(RESPONSE_SELECTOR, self._selection(retrieval, entries), add_to_output=True)

    def _selection(self, retrieval: str, entries: List[Tuple[str, float]]) -> Dict[str, Any]:
        """Rasa's response-selector output: each entry's probability given the intent is `faq`."""
        total = sum(p for _, p in entries)
        entries = sorted(entries, key=lambda kv: -kv[1])[: self.config["ranking_length"]]
        ranking = [{"id": None, "confidence": p / total if total else 0.0, INTENT_RESPONSE_KEY: key}
                   for key, p in entries]
        best = ranking[0]
        return {"all_retrieval_intents": [retrieval],
                retrieval: {"response": {"responses": [], "confidence": best["confidence"],
                                         INTENT_RESPONSE_KEY: best[INTENT_RESPONSE_KEY],
                                         "utter_action": f"utter_{best[INTENT_RESPONSE_KEY]}"},
                            "ranking": ranking}}
