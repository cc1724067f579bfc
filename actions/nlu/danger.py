"""The safety net inside the brain: danger in the caller's words is recognised before any answer,
whatever the FAQ classifier and its thresholds say.

Two nets, the second behind the first:
1. the editors' phrases (data/faq/danger.yml, bot/danger/match.py): predictable, and an added
   phrase is live after `make train`;
2. a small model of our n-gram kind (actions/nlu/ngram_model.py) that tells "danger of kind k"
   from "anything else", trained on the kinds' examples and phrases (as written, without
   diacritics and through the line's noise channel, bot/noise/channel.py), the emergency intent's
   examples (medical), and every other training example as "anything else". It has its own
   threshold on P(danger), chosen on the blind danger dev split for recall
   (`make bench`, section Safety net), never the FAQ's thresholds.

It runs after the FallbackClassifier and overrides its decision: intent `danger` (confidence 1
for a phrase, P(danger) for the model) and an entity `danger` whose value is the kind; the rule
`danger -> action_danger` announces and transfers. Between `ask_threshold` and `threshold` the
model only suspects danger: intent `danger_check` (same entity), and `action_danger_check` asks
the caller (danger.yml `check_question`) before putting them through; the FAQ decision stays in
the ranking and the response selector, so a "không" carries on with it. Asking costs a person
in danger a few seconds; putting through every news sentence that mentions a fire costs 115 the
line, and the question lets the threshold for suspicion sit far lower than one for a transfer. It is also the only judge of danger: when the
FAQ classifier's top intent is `emergency` but neither net sees danger (its examples are the
model's `medical` examples too), the classifier's next intent stands instead ("nằm viện cấp
cứu có được hỗ trợ không" is a benefit question, not a call for an ambulance).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
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
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from actions.nlu.ngram_model import NgramConfig, NgramModel
from actions.server.unanswered import BEFORE_KEY, DECLINED_KEY  # the brain channel's metadata
from bot.config import load_settings
from bot.content.build import training_variants
from bot.danger.load import FILE_NAME, load_danger_net
from bot.danger.match import DangerMatcher
from bot.danger.model import DangerNet
from bot.danger.pieces import ordinary_pieces
from bot.noise import garble

DANGER_INTENT = "danger"
CHECK_INTENT = "danger_check"
DANGER_ENTITY = "danger"
ANYTHING_ELSE = "none"
GENERAL_KIND = "medical"  # 115: the kind a caller gets when the model cannot tell which
NET_FILE = "danger_net.json"
ROOT = Path(__file__).resolve().parents[2]
_BOT = ROOT / "bot"
CODE = (Path(__file__), Path(__file__).with_name("ngram_model.py"), *sorted((_BOT / "danger").glob("*.py")),
        _BOT / "noise" / "channel.py")


def danger_file() -> Path:
    settings = load_settings()
    return settings.path(settings.content.dir) / FILE_NAME


def everyday_sentences(path: Path) -> List[str]:
    """Ordinary Vietnamese of every kind (data/everyday/sentences.txt): without it the model only
    knows the hotline's own questions as "not danger", and any other sentence (a news line, a
    recipe) looks as much like danger as like them."""
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def training_examples(net: DangerNet, others: List[Tuple[str, str]], medical_intent: str,
                      noisy_copies: int, everyday: List[str] = (), seed: int = 5,
                      pieces: int = 0, longest_piece: int = 6) -> Tuple[List[str], List[str]]:
    """(texts, labels): each kind's examples and phrases as written, without diacritics and
    `noisy_copies` times through the noise channel; the medical intent's examples as `medical`;
    everything else (as written and without diacritics), and the editors' `not_danger` sentences
    (also through the noise channel), as ANYTHING_ELSE; and `pieces` pieces of the hotline's own
    questions and everyday sentences (ordinary_pieces) as ANYTHING_ELSE."""
    rng = random.Random(seed)
    texts: List[str] = []
    labels: List[str] = []

    def add(text: str, label: str, copies: int) -> None:
        for variant in training_variants(text):
            texts.append(variant)
            labels.append(label)
        for _ in range(copies):
            texts.append(garble(text, rng))
            labels.append(label)

    for kind in net.kinds:
        for example in (*kind.examples, *kind.phrases, *kind.weak_phrases):
            # A garbled one-word phrase is an everyday word ("cháy" -> "chạy"): no noisy copies.
            add(example, kind.id, noisy_copies if len(example.split()) > 1 else 0)
    for example in net.not_danger:
        add(example, ANYTHING_ELSE, noisy_copies)
    for example in everyday:  # many, and far from danger: as written and bare is weight enough
        add(example, ANYTHING_ELSE, 0)
    medical = "medical" if net.kind("medical") else net.kinds[0].id
    for text, label in others:
        add(text, medical if label == medical_intent else ANYTHING_ELSE,
            noisy_copies if label == medical_intent else 0)
    if pieces:
        # Not the editors' not_danger sentences: they are look-alikes of danger, and a piece of one
        # ("chồng tôi ngã giàn giáo") is too close to danger told now.
        ordinary = [text for text, label in others if label != medical_intent] + list(everyday)
        for piece in ordinary_pieces(ordinary, DangerMatcher(net), pieces, rng, longest_piece):
            add(piece, ANYTHING_ELSE, 0)
    return texts, labels


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class DangerDetector(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"threshold": 0.4, "ask_threshold": None, "unanswered_ask_threshold": None,
                "unanswered_intents": ["out_of_scope", "nlu_fallback"], "ask_min_words": 5, "C": 3.0, "noisy_copies": 2, "medical_intent": "emergency",
                "fallback_threshold": 0.1, "min_words": 3, "everyday": "data/everyday/sentences.txt",
                "ordinary_pieces": 0, "longest_piece": 6, "put_min_words": 0, "with_before": False, "asking_threshold": None}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 net: Optional[DangerNet] = None, model: Optional[NgramModel] = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.net = net
        self.matcher = DangerMatcher(net) if net else None
        self.model = model

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """danger.yml is not Rasa training data, so Rasa's cache would not see an editor's new
        phrase: its bytes, and our code, are part of the fingerprint."""
        files = (danger_file(), ROOT / config.get("everyday", cls.get_default_config()["everyday"]))
        content = b"".join(p.read_bytes() if p.exists() else b"" for p in files)
        return hashlib.sha256(b"".join(p.read_bytes() for p in CODE) + content).hexdigest()

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "DangerDetector":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        path = danger_file()
        net, problems = load_danger_net(path.parent)
        if net is None:
            raise ValueError(f"{path}: " + "; ".join(str(p) for p in problems if p.severity == "error"))
        others = [(m.get(TEXT) or "", m.get(INTENT) or "") for m in training_data.intent_examples]
        texts, labels = training_examples(net, [(t, label) for t, label in others if t.strip() and label],
                                          self.config["medical_intent"], int(self.config["noisy_copies"]),
                                          everyday_sentences(ROOT / self.config["everyday"]),
                                          pieces=int(self.config["ordinary_pieces"]),
                                          longest_piece=int(self.config["longest_piece"]))
        self.model = NgramModel.fit(texts, labels, NgramConfig(C=float(self.config["C"])))
        self.net = net
        with self._model_storage.write_to(self._resource) as directory:
            self.model.save(directory)
            (directory / NET_FILE).write_text(json.dumps(net.as_dict(), ensure_ascii=False), encoding="utf-8")
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "DangerDetector":
        with contextlib.ExitStack() as stack:
            # No danger net is a broken model, not a quiet one: raising makes the swap refuse it.
            directory = stack.enter_context(model_storage.read_from(resource))
            net = DangerNet.from_dict(json.loads((directory / NET_FILE).read_text(encoding="utf-8")))
            return cls(config, model_storage, resource, net, NgramModel.read(directory))

    # --- prediction -----------------------------------------------------------------------------
    def process(self, messages: List[Message]) -> List[Message]:
        if self.matcher is None or self.model is None or not messages:
            return messages
        texts = [m.get(TEXT) or "" for m in messages]
        befores = [str((m.get("metadata") or {}).get(BEFORE_KEY) or "").strip() for m in messages]
        joined = [f"{b} {t}" if b else t for b, t in zip(befores, texts)]
        probs_of = self.model.probabilities(texts + joined)
        for i, (message, text) in enumerate(zip(messages, texts)):
            unanswered = (message.get(INTENT) or {}).get(INTENT_NAME_KEY) in self.config["unanswered_intents"]
            found = self.detect(text, probs_of[i], unanswered)
            decision = self.decide(text, found)
            if decision == DANGER_INTENT and not self._stands_after_turns_before(
                    message, befores[i], joined[i], probs_of[len(texts) + i], unanswered):
                decision = CHECK_INTENT
            if found and decision:
                self._annotate(message, text, *found, decision)
            elif (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == self.config["medical_intent"]:
                self._not_an_emergency(message)
        return messages

    def _stands_after_turns_before(self, message: Message, before: str, joined: str, probs: np.ndarray,
                                   unanswered: bool) -> bool:
        """A turn put through on its own still is after the turns before (the brain channel's
        metadata, bot/policy/story.py): not right after the caller's "không" to the question, and
        still put through when joined to their unanswered words ("năm ngoái cái sạp của tôi ở
        chợ" ... "bị cháy trụi hết" is the past). Else it is asked about."""
        if not self.config["with_before"]:
            return True
        if (message.get("metadata") or {}).get(DECLINED_KEY):
            return False
        return not before or self.decide(joined, self.detect(joined, probs, unanswered)) == DANGER_INTENT

    def decide(self, text: str, found: Optional[Tuple[str, float, str]]) -> Optional[str]:
        """What a detection (from `detect`) makes of the turn: DANGER_INTENT (put through at
        once), CHECK_INTENT (asked first) or None."""
        if found is None:
            return None
        words = len(text.split())
        phrase = found[2].startswith("phrase:")
        if phrase or found[1] >= float(self.config["threshold"]):
            # The model alone on a short turn ("để tôi nghĩ đã", "con tôi khóc suốt") asks rather
            # than puts the caller through: a few words are too little for a bag of n-grams to send
            # anyone to 115 on, and short danger speaks through the editors' phrases.
            return DANGER_INTENT if phrase or words >= int(self.config["put_min_words"]) else CHECK_INTENT
        # "cái thứ nhất", "mấy giờ rồi": a suspicion on three or four words is too little to
        # interrupt a caller with; short danger speaks through the phrases.
        return CHECK_INTENT if words >= int(self.config["ask_min_words"]) else None

    def _not_an_emergency(self, message: Message) -> None:
        ranking = [i for i in (message.get(INTENT_RANKING_KEY) or [])
                   if i.get(INTENT_NAME_KEY) not in (self.config["medical_intent"], "nlu_fallback")]
        if ranking and float(ranking[0].get(PREDICTED_CONFIDENCE_KEY) or 0) >= float(self.config["fallback_threshold"]):
            message.set(INTENT, ranking[0], add_to_output=True)
        else:
            message.set(INTENT, {INTENT_NAME_KEY: "nlu_fallback", PREDICTED_CONFIDENCE_KEY: 1.0}, add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)

    def detect(self, text: str, probs: np.ndarray, unanswered: bool = False) -> Optional[Tuple[str, float, str]]:
        """(kind, confidence, how) or None; `probs` from self.model for this text. A model
        detection below `threshold` (at least `ask_threshold`, or `unanswered_ask_threshold` when
        the FAQ has no answer for the turn) is a suspicion to ask about."""
        found = self.matcher.find(text)
        if found and (not found.asking or not self.net.check_question):
            return found.kind.id, 1.0, f"phrase:{found.phrase}"
        if found:
            # An editors' phrase in a sentence that asks about support or tells of the past
            # ("tháng trước bị ngộ độc, bảo hiểm có trả không"): put through if the model is sure,
            # else asked (a suspicion at least, however low the model's probability).
            by_label = dict(zip(self.model.labels, probs.tolist()))
            p_danger = 1.0 - by_label.get(ANYTHING_ELSE, 0.0)
            if p_danger >= self._asking_threshold():
                return found.kind.id, p_danger, "model"
            return found.kind.id, min(p_danger, float(self.config["threshold"]) - 1e-6), f"asking:{found.phrase}"
        if len(text.split()) < int(self.config["min_words"]):
            # "dạ", "trời ơi", "chán quá": a bag of n-grams knows too little of so few words; on
            # short turns only the editors' phrases ("cháy rồi", "cứu với") speak for danger.
            return None
        by_label = dict(zip(self.model.labels, probs.tolist()))
        p_danger = 1.0 - by_label.get(ANYTHING_ELSE, 0.0)
        if p_danger < self._ask_threshold(unanswered):
            return None
        kind = max((k.id for k in self.net.kinds), key=lambda k: by_label.get(k, 0.0))
        if float(self.config["threshold"]) <= p_danger < self._asking_threshold() and self.matcher.asks(text):
            # The model alone, in words that ask about support or tell of the past ("năm ngoái tôi
            # bị một thằng say rượu đâm"): asked rather than put through unless it is very sure.
            return kind, float(self.config["threshold"]) - 1e-6, "model:asking"
        if p_danger < float(self.config["threshold"]) and by_label.get(kind, 0.0) < 0.5 * p_danger \
                and self.net.kind(GENERAL_KIND):
            # A suspicion split between kinds names none of them well ("dương tính, uống thuốc gì"
            # leans to suicide through "uống thuốc"): a caller who says "có" hears 115's message.
            kind = GENERAL_KIND
        return kind, p_danger, "model"

    def _asking_threshold(self) -> float:
        """What the model needs to put through a caller whose words ask about support or tell of
        the past (`asking_threshold`; without one, the plain `threshold`)."""
        sure = self.config.get("asking_threshold")
        return float(sure) if sure is not None else float(self.config["threshold"])

    def _ask_threshold(self, unanswered: bool) -> float:
        """A caller the FAQ cannot answer would hear "no information" or "please say it again", and
        one routed to another branch leaves the bot (config `unanswered_intents`): asking them
        about danger costs little, so the suspicion may be weaker there."""
        threshold = float(self.config["threshold"])
        ask = self.config.get("ask_threshold")
        if unanswered and self.config.get("unanswered_ask_threshold") is not None:
            ask = min(float(self.config["unanswered_ask_threshold"]), float(ask if ask is not None else threshold))
        if ask is None or not (self.net and self.net.check_question):
            return threshold  # nothing to ask with: only sure detections count
        return min(float(ask), threshold)

    @staticmethod
    def _annotate(message: Message, text: str, kind: str, confidence: float, how: str, name: str) -> None:
        intent = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence}
        ranking = [intent, *[i for i in (message.get(INTENT_RANKING_KEY) or [])
                             if i.get(INTENT_NAME_KEY) not in (DANGER_INTENT, CHECK_INTENT)]]
        message.set(INTENT, intent, add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        entity = {"entity": DANGER_ENTITY, "value": kind, "start": 0, "end": len(text),
                  "confidence_entity": confidence, "extractor": "DangerDetector", "processors": [how]}
        message.set(ENTITIES, [*(message.get(ENTITIES) or []), entity], add_to_output=True)
