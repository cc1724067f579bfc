"""The brain's classifier: one linear model over word and character n-grams that picks the intent
and, for FAQ questions, the entry (Rasa's intent classifier and response selector in one).

Why it replaced DIET + ResponseSelector (docs/architecture.md, "The brain"): on the blind dev
split it chooses the right action more often (98.1 % against 95.1 % before thresholds), rejects
out-of-scope questions better (99 % against 85 %), and trains in about 25 s instead of 13-20 min,
so an editor's new example goes live in a minute. Probabilities are a softmax over every label
(`faq/<id>` counts as a label), so an out-of-scope sentence that resembles nothing spreads its
probability and falls under the FallbackClassifier's threshold.

Output, in Rasa's own format so the rules, the FallbackClassifier and actions/actions.py read it
unchanged: `intent` / `intent_ranking`, where `faq` carries its most likely entry's probability
(so the FallbackClassifier weighs one answer against one other intent: summing the 57 entries made
vague questions look like confident FAQ questions, 96.1 % against 98.1 % on dev), and
`response_selector.faq` with each entry's probability given that the question is an FAQ.
Saved as JSON and a NumPy archive without pickles: loading a model never runs code.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import unicodedata
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Tuple

import numpy as np
import scipy.sparse as sp
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
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression

RESPONSE_SELECTOR = "response_selector"
WEIGHTS_FILE = "weights.npz"
META_FILE = "meta.json"


def normalise(text: str) -> str:
    """NFC and lower case: some phone keyboards and ASR engines emit decomposed diacritics."""
    return unicodedata.normalize("NFC", text).lower()


class NgramFeatures:
    """Sublinear TF-IDF over one n-gram kind, each block L2-normalised (what the model saw)."""

    def __init__(self, analyzer: str, ngram_range: Tuple[int, int], vocabulary: List[str], idf: np.ndarray):
        self.counter = CountVectorizer(analyzer=analyzer, ngram_range=ngram_range, lowercase=False,
                                       vocabulary={term: i for i, term in enumerate(vocabulary)})
        self.vocabulary = vocabulary
        self.idf = idf

    @classmethod
    def fit(cls, analyzer: str, ngram_range: Tuple[int, int], texts: List[str]) -> "NgramFeatures":
        tfidf = TfidfVectorizer(analyzer=analyzer, ngram_range=ngram_range, lowercase=False, sublinear_tf=True)
        tfidf.fit(texts)
        terms = sorted(tfidf.vocabulary_, key=tfidf.vocabulary_.__getitem__)
        return cls(analyzer, ngram_range, terms, tfidf.idf_.astype(np.float64))

    def transform(self, texts: List[str]) -> sp.csr_matrix:
        counts = self.counter.transform(texts).astype(np.float64).tocsr()
        counts.data = 1.0 + np.log(counts.data)
        weighted = counts @ sp.diags(self.idf)
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ weighted)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class NgramIntentClassifier(GraphComponent, IntentClassifier):
    """Intent + FAQ entry from a multinomial logistic regression on n-gram TF-IDF."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "char_ngrams": [2, 5],   # inside word boundaries: robust to missing diacritics and ASR slips
            "word_ngrams": [1, 2],   # Vietnamese meaning lives in two-syllable compounds ("hộ nghèo")
            "C": 3.0,                # inverse regularisation, chosen on the dev split
            "max_iter": 3000,
            "ranking_length": 10,
            "retrieval_intent": "faq",
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 features: Optional[List[NgramFeatures]] = None, labels: Optional[List[str]] = None,
                 coef: Optional[np.ndarray] = None, intercept: Optional[np.ndarray] = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.features = features or []
        self.labels = labels or []
        self.coef = coef
        self.intercept = intercept

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """This file's code is part of the fingerprint: Rasa's training cache must not hand back a
        model trained by an older version of the classifier."""
        return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "NgramIntentClassifier":
        return cls(config, model_storage, resource)

    # --- training -------------------------------------------------------------------------------
    @staticmethod
    def _label(example: Message) -> Optional[str]:
        return example.get(INTENT_RESPONSE_KEY) or example.get(INTENT)

    def _featurise(self, texts: List[str]) -> sp.csr_matrix:
        return sp.hstack([block.transform(texts) for block in self.features]).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        examples = [(normalise(m.get(TEXT) or ""), self._label(m)) for m in training_data.intent_examples]
        examples = [(text, label) for text, label in examples if text.strip() and label]
        labels = sorted({label for _, label in examples})
        if len(labels) < 2:
            raise ValueError("NgramIntentClassifier needs training examples for at least two intents")
        texts = [text for text, _ in examples]
        self.features = [NgramFeatures.fit("char_wb", tuple(self.config["char_ngrams"]), texts),
                         NgramFeatures.fit("word", tuple(self.config["word_ngrams"]), texts)]
        model = LogisticRegression(C=float(self.config["C"]), max_iter=int(self.config["max_iter"]))
        model.fit(self._featurise(texts), [label for _, label in examples])
        self.labels = [str(label) for label in model.classes_]
        self.coef, self.intercept = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
        self.persist()
        return self._resource

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            np.savez_compressed(directory / WEIGHTS_FILE, coef=self.coef, intercept=self.intercept,
                                **{f"idf_{i}": block.idf for i, block in enumerate(self.features)})
            meta = {"labels": self.labels,
                    "features": [{"analyzer": b.counter.analyzer, "ngram_range": list(b.counter.ngram_range),
                                  "vocabulary": b.vocabulary} for b in self.features]}
            (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "NgramIntentClassifier":
        with contextlib.ExitStack() as stack:
            try:
                directory = stack.enter_context(model_storage.read_from(resource))
            except ValueError:  # nothing was trained (no NLU data): answer nothing rather than fail
                return cls(config, model_storage, resource)
            # A damaged file raises here, so a broken model is refused and the old one keeps serving.
            meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
            with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as weights:
                features = [NgramFeatures(f["analyzer"], tuple(f["ngram_range"]), f["vocabulary"],
                                          weights[f"idf_{i}"]) for i, f in enumerate(meta["features"])]
                return cls(config, model_storage, resource, features, meta["labels"],
                           weights["coef"], weights["intercept"])

    # --- prediction -----------------------------------------------------------------------------
    def probabilities(self, texts: List[str]) -> np.ndarray:
        scores = self._featurise([normalise(t) for t in texts]) @ self.coef.T + self.intercept
        scores = np.asarray(scores, dtype=np.float64)
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def process(self, messages: List[Message]) -> List[Message]:
        if self.coef is None or not messages:
            return messages
        for message, probs in zip(messages, self.probabilities([m.get(TEXT) or "" for m in messages])):
            self._annotate(message, probs)
        return messages

    def _annotate(self, message: Message, probs: np.ndarray) -> None:
        retrieval = self.config["retrieval_intent"]
        by_intent: Dict[str, float] = {}
        entries: List[Tuple[str, float]] = []
        for label, p in zip(self.labels, probs.tolist()):
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
