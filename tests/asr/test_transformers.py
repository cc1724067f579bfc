"""The transformers (wav2vec2 CTC) engine on a tiny randomly initialised model the test saves."""
import json

import numpy as np
import pytest

from bot.asr.base import AsrError
from bot.asr.registry import make_asr
from bot.audio.resample import resample

torch = pytest.importorskip("torch", reason="torch not installed")
transformers = pytest.importorskip("transformers", reason="transformers not installed")

LETTERS = list("abcdeghiklmnopqrstuvxyđ")
VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, **{c: i + 5 for i, c in enumerate(LETTERS)}}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
                              Wav2Vec2Processor)

    path = tmp_path_factory.mktemp("tiny-wav2vec2")
    (path / "vocab.json").write_text(json.dumps(VOCAB, ensure_ascii=False), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(path / "vocab.json"), word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(path)
    torch.manual_seed(0)
    config = Wav2Vec2Config(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, conv_dim=(32, 32), conv_stride=(5, 64), conv_kernel=(10, 64),
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, pad_token_id=0)
    Wav2Vec2ForCTC(config).save_pretrained(path)  # 320 samples (20 ms at 16 kHz) per output frame
    return path


@pytest.fixture(scope="module")
def engine(model_dir):
    engine = make_asr("transformers", str(model_dir))
    yield engine
    engine.close()


def speech_like(seconds: float, rate: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.normal(0, 3000, int(seconds * rate))).astype(np.int16)


def reference_decode(model_dir, samples_16k: np.ndarray) -> str:
    """The same model run by hand, without the engine."""
    from transformers import Wav2Vec2ForCTC, Wav2Vec2Processor

    processor = Wav2Vec2Processor.from_pretrained(model_dir)
    model = Wav2Vec2ForCTC.from_pretrained(model_dir).eval()
    values = processor(samples_16k.astype(np.float32) / 32768, sampling_rate=16000, return_tensors="pt").input_values
    with torch.inference_mode():
        ids = model(values).logits.argmax(-1)
    return " ".join(processor.batch_decode(ids, skip_special_tokens=True)[0].split())


def test_engine_decodes_like_the_model_run_by_hand(engine, model_dir):
    audio = speech_like(1.0, 8000)  # the telephone rate the engine is fed at
    with engine.stream() as stream:
        for i in range(0, audio.size, 160):
            stream.accept(audio[i:i + 160])
        assert stream.partial() == ""  # not a streaming model
        text = stream.final()
    expected = reference_decode(model_dir, resample(audio, 8000, 16000))
    assert expected and text == expected  # a random model still emits letters


def test_line_rate_audio_is_resampled_to_the_model_rate(engine):
    seen = []
    hook = engine._model.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[-1]))
    try:
        engine.transcribe(speech_like(1.0, 8000), 8000)
    finally:
        hook.remove()
    assert engine.sample_rate == 8000 and engine.model_rate == 16000
    assert seen == [16000]


def test_ctc_output_is_collapsed_into_words(engine):
    head = engine._model.lm_head
    saved = head.weight.detach().clone(), head.bias.detach().clone()
    try:
        with torch.no_grad():
            head.weight.zero_()
            head.bias.zero_()
            head.bias[VOCAB["đ"]] = 10.0  # every frame says "đ": CTC collapses the repeats
        assert engine.transcribe(speech_like(0.5, 8000), 8000) == "đ"
        with torch.no_grad():
            head.bias[VOCAB["<pad>"]] = 20.0  # every frame blank: nothing
        assert engine.transcribe(speech_like(0.5, 8000), 8000) == ""
    finally:
        with torch.no_grad():
            head.weight.copy_(saved[0])
            head.bias.copy_(saved[1])


def test_final_starts_a_new_turn_and_empty_turns_are_empty(engine):
    with engine.stream() as stream:
        assert stream.final() == ""
        stream.accept(speech_like(0.5, 8000))
        assert stream.final()
        assert stream.final() == ""


def test_bad_model_dirs_are_refused_without_any_download(tmp_path):
    with pytest.raises(AsrError, match="needs model_dir"):
        make_asr("transformers", None)
    with pytest.raises(AsrError, match="no config.json"):
        make_asr("transformers", str(tmp_path))
    (tmp_path / "config.json").write_text('{"model_type": "wav2vec2"}')
    with pytest.raises(AsrError, match="cannot load"):
        make_asr("transformers", str(tmp_path))
