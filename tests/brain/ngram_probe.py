"""Run by test_ngram_classifier.py in the Rasa environment (.venv-rasa): train the classifier on a
tiny knowledge base through Rasa's own model storage, load it back, and print what it predicts."""
from __future__ import annotations

import json
import sys
import tempfile
import unicodedata
from pathlib import Path

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from actions.nlu.ngram_classifier import NgramIntentClassifier  # noqa: E402
from actions.nlu.ngram_model import _stack, normalise  # noqa: E402

EXAMPLES = {
    "faq/ho_ngheo": ["hộ nghèo được hỗ trợ bao nhiêu", "nhà tôi hộ nghèo có được tiền không",
                     "ho ngheo duoc ho tro bao nhieu", "hộ cận nghèo thì được bao nhiêu tiền"],
    "faq/buu_dien": ["nhận tiền qua bưu điện được không", "bưu điện có mang tiền đến nhà không",
                     "nhan tien qua buu dien duoc khong", "có lĩnh ở bưu điện được không"],
    "out_of_scope": ["thời tiết hôm nay thế nào", "giá vàng hôm nay bao nhiêu", "đội nào thắng trận tối qua",
                     "thoi tiet hom nay the nao", "cho tôi đặt vé máy bay"],
    "greet": ["xin chào", "chào em", "alo chào chị", "chao em"],
}
QUESTIONS = ["hộ nghèo được bao nhiêu tiền", "ho ngheo duoc bao nhieu tien",
             unicodedata.normalize("NFD", "nhận qua bưu điện"), "nhận qua bưu điện", "thời tiết ngày mai", "alo chào em"]


# An editors' concept (data/faq/concepts.yml, a Rasa lookup table): "đồng nát" and "cửu vạn" are in
# no example, only in the concept's list.
CONCEPT_EXAMPLES = {
    "faq/tu_do": ["tôi chạy xe ôm mất việc thì được bao nhiêu", "phụ hồ không có việc thì có được tiền không",
                  "bán hàng rong như tôi được hỗ trợ không", "chạy xe ôm thì được mấy tiền"],
    "faq/ho_ngheo": EXAMPLES["faq/ho_ngheo"],
    "out_of_scope": EXAMPLES["out_of_scope"] + ["tôi mua bán nhà đất", "tôi bán xe cũ thì đăng ký ở đâu"],
}
CONCEPT = [{"name": "nghe_tu_do", "elements": ["xe ôm", "phụ hồ", "bán hàng rong", "đồng nát", "cửu vạn"]}]
CONCEPT_QUESTIONS = ["tôi đi mua đồng nát mấy tháng nay không có việc", "cuu van o cho thi sao"]


def train_once(root: Path, examples: dict = EXAMPLES, lookup: list | None = None) -> tuple[NgramIntentClassifier, bytes]:
    messages = []
    for label, texts in examples.items():
        intent, _, _ = label.partition("/")
        for text in texts:
            data = {"text": text, "intent": intent}
            if "/" in label:
                data["intent_response_key"] = label
            messages.append(Message(data=data))
    storage, resource = LocalModelStorage(root), Resource("ngram")
    context = ExecutionContext(GraphSchema({}), "probe")
    data = TrainingData(training_examples=messages, lookup_tables=lookup or [])
    NgramIntentClassifier.create({}, storage, resource, context).train(data)
    weights = b"".join(p.read_bytes() for p in sorted((root / "ngram").iterdir()))
    return NgramIntentClassifier.load({}, storage, resource, context), weights


def fast_against_sparse(classifier: NgramIntentClassifier) -> float:
    """Largest difference between the live path (`probabilities`, hand-built rows) and the
    scikit-learn matrices the model was trained on, over the questions and odd inputs."""
    import numpy as np

    model = classifier.model
    texts = [*QUESTIONS, "", "   ", "!!!", "xyz qqq", "Hộ NGHÈO hộ nghèo hộ nghèo"]
    scores = np.asarray(_stack(model.features, [normalise(t) for t in texts]) @ model.coef.T + model.intercept,
                        dtype=np.float64)
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    return float(np.abs(model.probabilities(texts) - scores / scores.sum(axis=1, keepdims=True)).max())


def concept_shares() -> dict:
    """P(faq/tu_do) for questions whose job is only in the concept's list, trained with the concept
    and without it (each loaded back from its model storage)."""
    out = {}
    for name, lookup in (("with", CONCEPT), ("without", [])):
        with tempfile.TemporaryDirectory() as root:
            loaded, _ = train_once(Path(root), CONCEPT_EXAMPLES, lookup)
            model = loaded.model
            probs = model.probabilities(CONCEPT_QUESTIONS)
            column = model.labels.index("faq/tu_do")
            out[name] = {"p": [float(row[column]) for row in probs],
                         "best": [model.labels[int(row.argmax())] for row in probs],
                         "saved_concepts": sorted(model.tagger.concepts)}
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b, tempfile.TemporaryDirectory() as c:
        loaded, weights_a = train_once(Path(a))
        _, weights_b = train_once(Path(b))
        messages = loaded.process([Message.build(text=q) for q in QUESTIONS])
        untrained = NgramIntentClassifier.load({}, LocalModelStorage(Path(c)), Resource("ngram"),
                                               ExecutionContext(GraphSchema({}), "probe"))
        untouched = untrained.process([Message.build(text="hộ nghèo")])[0]
        (Path(b) / "ngram" / "meta.json").write_text("{not json", encoding="utf-8")
        try:
            NgramIntentClassifier.load({}, LocalModelStorage(Path(b)), Resource("ngram"),
                                       ExecutionContext(GraphSchema({}), "probe"))
            damaged = "loaded"
        except Exception as error:  # noqa: BLE001 - the test wants to see that it fails, and how
            damaged = type(error).__name__
        print(json.dumps({
            "same_weights_twice": weights_a == weights_b,
            "files": sorted(p.name for p in (Path(a) / "ngram").iterdir()),
            "parses": [{"text": m.get("text"), "intent": m.get("intent"), "intent_ranking": m.get("intent_ranking"),
                        "response_selector": m.get("response_selector")} for m in messages],
            "untrained_intent": untouched.get("intent"),
            "fast_against_sparse": fast_against_sparse(loaded),
            "damaged_model": damaged,
            "concepts": concept_shares(),
        }, ensure_ascii=False))


if __name__ == "__main__":
    main()
