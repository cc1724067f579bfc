"""The brain's model without Rasa: sublinear TF-IDF over word and character n-grams, then one
multinomial logistic regression over every label (each FAQ entry `faq/<id>` is a label).

Used by the Rasa component (actions/nlu/ngram_classifier.py) and by the editors' overlap report
(actions/nlu/ngram_overlap.py). Saved as JSON and a NumPy archive without pickles: loading never runs code.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from actions.nlu.concepts import ConceptTagger
from bot.text import nfc

WEIGHTS_FILE = "weights.npz"
META_FILE = "meta.json"


@dataclass(frozen=True)
class NgramConfig:
    char_ngrams: Tuple[int, int] = (2, 5)  # inside word boundaries: robust to missing diacritics, ASR slips
    word_ngrams: Tuple[int, int] = (1, 2)  # Vietnamese meaning lives in two-syllable compounds ("hộ nghèo")
    C: float = 3.0                         # inverse regularisation, chosen on the dev split
    max_iter: int = 3000
    # Per-label weights of the training loss (1 when absent); see config.yml for the values used.
    class_weights: Dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "NgramConfig":
        """From the component's entry in config.yml (unknown keys, e.g. `name`, are ignored)."""
        defaults = cls()
        return cls(char_ngrams=tuple(values.get("char_ngrams", defaults.char_ngrams)),
                   word_ngrams=tuple(values.get("word_ngrams", defaults.word_ngrams)),
                   C=float(values.get("C", defaults.C)), max_iter=int(values.get("max_iter", defaults.max_iter)),
                   class_weights={str(k): float(v) for k, v in (values.get("class_weights") or {}).items()})


def normalise(text: str) -> str:
    """NFC and lower case: some phone keyboards and ASR engines emit decomposed diacritics."""
    return nfc(text).lower()


class NgramFeatures:
    """Sublinear TF-IDF over one n-gram kind, each block L2-normalised."""

    def __init__(self, analyzer: str, ngram_range: Tuple[int, int], vocabulary: List[str], idf: np.ndarray):
        self.counter = CountVectorizer(analyzer=analyzer, ngram_range=tuple(ngram_range), lowercase=False,
                                       vocabulary={term: i for i, term in enumerate(vocabulary)})
        self.vocabulary = vocabulary
        self.idf = idf
        self._analyse = self.counter.build_analyzer()
        self._index = self.counter.vocabulary

    def weights(self, text: str) -> Tuple[np.ndarray, np.ndarray]:
        """One text's row of `transform` as (column indices, values), without scikit-learn's
        per-call machinery: a live turn is one sentence, and CountVectorizer.transform spends
        ~1.5 ms a call on validation and matrix building around ~0.1 ms of n-gram analysis; the
        brain runs four blocks a turn (the FAQ classifier's and the safety net's)."""
        index = self._index
        counts = Counter(i for gram in self._analyse(text) if (i := index.get(gram)) is not None)
        if not counts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self.idf[columns]
        return columns, values / np.sqrt(values @ values)

    @classmethod
    def fit(cls, analyzer: str, ngram_range: Tuple[int, int], texts: Sequence[str]) -> "NgramFeatures":
        tfidf = TfidfVectorizer(analyzer=analyzer, ngram_range=tuple(ngram_range), lowercase=False, sublinear_tf=True)
        tfidf.fit(texts)
        terms = sorted(tfidf.vocabulary_, key=tfidf.vocabulary_.__getitem__)
        return cls(analyzer, ngram_range, terms, tfidf.idf_.astype(np.float64))

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        counts = self.counter.transform(texts).astype(np.float64).tocsr()
        counts.data = 1.0 + np.log(counts.data)
        weighted = counts @ sp.diags(self.idf)
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ weighted)


class NgramModel:
    """Labels, feature blocks and the linear layer; `probabilities` is a softmax over labels.
    With `concepts` (the editors' concepts.yml), each text gets the names of the concepts it says."""

    def __init__(self, features: List[NgramFeatures], labels: List[str], coef: np.ndarray, intercept: np.ndarray,
                 concepts: Optional[Mapping[str, Sequence[str]]] = None):
        self.features = features
        self.labels = labels
        self.coef = coef
        self.intercept = intercept
        self.tagger = ConceptTagger(concepts or {})

    def prepare(self, text: str) -> str:
        """The text as the features see it: concepts' names added, NFC, lower case."""
        return normalise(self.tagger.tag(text))

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], config: NgramConfig = NgramConfig(),
            concepts: Optional[Mapping[str, Sequence[str]]] = None) -> "NgramModel":
        """Deterministic: the same examples give the same weights (no random initialisation)."""
        if len(set(labels)) < 2:
            raise ValueError("the classifier needs training examples for at least two intents")
        tagger = ConceptTagger(concepts or {})
        texts = [normalise(tagger.tag(t)) for t in texts]
        features = [NgramFeatures.fit("char_wb", config.char_ngrams, texts),
                    NgramFeatures.fit("word", config.word_ngrams, texts)]
        regression = LogisticRegression(C=config.C, max_iter=config.max_iter,
                                        class_weight=dict(config.class_weights) or None)
        regression.fit(_stack(features, texts), list(labels))
        return cls(features, [str(label) for label in regression.classes_],
                   regression.coef_.astype(np.float32), regression.intercept_.astype(np.float32), tagger.concepts)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax over labels, one row per text (the same numbers as `_stack(...) @ coef.T`)."""
        scores = np.tile(self.intercept.astype(np.float64), (len(texts), 1))
        prepared = [self.prepare(text) for text in texts]
        offset = 0
        for block in self.features:
            for row, text in enumerate(prepared):
                columns, values = block.weights(text)
                if columns.size:
                    scores[row] += self.coef[:, offset + columns].astype(np.float64) @ values
            offset += len(block.vocabulary)
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, directory: Path) -> None:
        np.savez_compressed(directory / WEIGHTS_FILE, coef=self.coef, intercept=self.intercept,
                            **{f"idf_{i}": block.idf for i, block in enumerate(self.features)})
        meta = {"labels": self.labels, "concepts": self.tagger.concepts,
                "features": [{"analyzer": b.counter.analyzer, "ngram_range": list(b.counter.ngram_range),
                              "vocabulary": b.vocabulary} for b in self.features]}
        (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def read(cls, directory: Path) -> "NgramModel":
        """Raises on a missing or damaged file, so a broken model is never served."""
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as weights:
            features = [NgramFeatures(f["analyzer"], tuple(f["ngram_range"]), f["vocabulary"], weights[f"idf_{i}"])
                        for i, f in enumerate(meta["features"])]
            return cls(features, meta["labels"], weights["coef"], weights["intercept"], meta.get("concepts"))


def _stack(features: List[NgramFeatures], texts: Sequence[str]) -> sp.csr_matrix:
    return sp.hstack([block.transform(texts) for block in features]).tocsr()
