# Over 400 lines: the tiny model builders (real VITS, echo graphs, MMS) are shared by every test here.
"""Neural voices (MMS via transformers, Piper / Coqui VITS via onnxruntime) on tiny models that the
tests build and save themselves: random weights, so this checks loading, text → ids, inference
plumbing, sample rate, int16 output and errors — not how the voice sounds. Nothing is downloaded.

Two kinds of ONNX model: a real (tiny) VITS network exported from transformers with Piper's input
names, and an "echo" graph built with the onnx helper API whose waveform is the input ids, each
repeated round(100 × length_scale) times at (id + 64 × sid) / 1024 — so a test reads back exactly
which ids, speaker and length scale the engine sent.
"""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: never reach for the hub
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import json
import logging
import shutil
import subprocess
import sys
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pytest

from bot.tts import TtsError, TtsUnavailable, make_tts
from bot.tts import registry
from bot.tts.cache import PromptCache
from bot.tts.mms import MmsEngine
from bot.tts.vits_files import find_voice
from bot.tts.vits_onnx import VitsOnnxEngine

LETTERS = ("abcdefghijklmnopqrstuvwxyzàáâãèéêìíòóôõùúýăđĩũơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")
PUNCTUATIONS = "!'(),-.:;? "
# Piper's special symbols, punctuation, and the IPA espeak-ng writes for Vietnamese (codepoints).
IPA = "ɐɑɔəɛɜɡɣɪɯɲŋʃʊʌʒʔɓɗˈˌːʰ" + "\u0303\u032a\u0306\u0330"
PIPER_SYMBOLS = ["_", "^", "$", *PUNCTUATIONS, *"abcdefghijklmnopqrstuvwxyz", *IPA, *"0123456789"]
HOP = 100  # echo graph: samples per id at length_scale 1


# ── builders ───────────────────────────────────────────────────────────────────────────────────
def tiny_vits(vocab_size: int, sampling_rate: int = 16000, num_speakers: int = 1):
    import torch
    from transformers import VitsConfig, VitsModel

    config = VitsConfig(
        vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, ffn_dim=16,
        flow_size=16, spectrogram_bins=9, upsample_initial_channel=16, upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1]],
        duration_predictor_filter_channels=16, duration_predictor_num_flows=1, prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1, depth_separable_num_layers=1,
        num_speakers=num_speakers, speaker_embedding_size=8 if num_speakers > 1 else 0,
        sampling_rate=sampling_rate, pad_token_id=0)
    torch.manual_seed(0)
    return VitsModel(config).eval()


@pytest.fixture(scope="session")
def mms_dir(tmp_path_factory) -> Path:
    """A saved VitsModel + a VitsTokenizer vocabulary of Vietnamese letters, like mms-tts-vie."""
    directory = tmp_path_factory.mktemp("mms-tts-vie")
    vocab = {"<pad>": 0, **{c: i + 1 for i, c in enumerate(" " + LETTERS + "'-")}}
    vocab["<unk>"] = len(vocab)
    tiny_vits(len(vocab), sampling_rate=16000).save_pretrained(directory)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "VitsTokenizer", "language": "vie", "add_blank": True, "normalize": True,
        "phonemize": False, "is_uroman": False, "pad_token": "<pad>", "unk_token": "<unk>"}), encoding="utf-8")
    return directory


def piper_config(id_map: dict[str, list[int]], sample_rate: int = 22050, **extra) -> dict:
    return {"audio": {"sample_rate": sample_rate}, "espeak": {"voice": "vi"}, "phoneme_type": "espeak",
            "num_symbols": 1 + max(i for ids in id_map.values() for i in ids), "num_speakers": 1,
            "speaker_id_map": {}, "phoneme_id_map": id_map,
            "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
            "piper_version": "1.0.0", **extra}


def symbol_map() -> dict[str, list[int]]:
    return {s: [i] for i, s in enumerate(PIPER_SYMBOLS)}


@pytest.fixture(scope="session")
def piper_vits_dir(tmp_path_factory) -> Path:
    """The tiny transformers VITS exported to ONNX with Piper's inputs and output, + model.onnx.json."""
    import torch

    directory = tmp_path_factory.mktemp("piper-vits")
    id_map = symbol_map()
    model = tiny_vits(len(PIPER_SYMBOLS))

    class PiperInterface(torch.nn.Module):
        def __init__(self, vits) -> None:
            super().__init__()
            self.vits = vits

        def forward(self, input, input_lengths, scales):  # noqa: A002  (Piper's input names)
            self.vits.noise_scale, self.vits.noise_scale_duration = scales[0], scales[2]
            mask = (torch.arange(input.shape[1]).unsqueeze(0) < input_lengths.unsqueeze(1)).long()
            waveform = self.vits(input_ids=input, attention_mask=mask, speaking_rate=1.0 / scales[1]).waveform
            return waveform.unsqueeze(1)  # [1, 1, samples]

    example = torch.tensor([[1, 0, 40, 0, 30, 0, 20, 0, 2] * 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(PiperInterface(model), (example, torch.tensor([example.shape[1]]),
                                                  torch.tensor([0.667, 1.0, 0.8])),
                          str(directory / "model.onnx"), input_names=["input", "input_lengths", "scales"],
                          output_names=["output"], opset_version=17, dynamo=False,
                          dynamic_axes={"input": {0: "batch", 1: "phonemes"}, "input_lengths": {0: "batch"},
                                        "output": {0: "batch", 2: "samples"}})
    (directory / "model.onnx.json").write_text(json.dumps(piper_config(id_map), ensure_ascii=False), "utf-8")
    return directory


def echo_onnx(path: Path, sid: bool = False, inputs: tuple[str, ...] = ("input", "input_lengths", "scales")) -> Path:
    """A graph with VITS's interface whose output spells out its input (see the module docstring)."""
    from onnx import TensorProto, helper, save

    declared = {"input": helper.make_tensor_value_info("input", TensorProto.INT64, [1, "T"]),
                "input_lengths": helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
                "scales": helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
                "sid": helper.make_tensor_value_info("sid", TensorProto.INT64, [1])}
    names = list(inputs) + (["sid"] if sid else [])
    const = lambda name, dtype, dims, vals: helper.make_node(  # noqa: E731
        "Constant", [], [name], value=helper.make_tensor(name + "_v", dtype, dims, vals))
    nodes = [const("k1024", TensorProto.FLOAT, [], [1024.0]), const("hop", TensorProto.FLOAT, [], [float(HOP)]),
             const("one", TensorProto.INT64, [], [1]), const("axis2", TensorProto.INT64, [1], [2]),
             const("ones2", TensorProto.INT64, [2], [1, 1]), const("shape", TensorProto.INT64, [3], [1, 1, -1]),
             const("r_shape", TensorProto.INT64, [1], [1]),
             helper.make_node("Cast", ["input"], ["ids_f"], to=TensorProto.FLOAT)]
    value = "ids_f"
    if sid:
        nodes += [const("k64", TensorProto.FLOAT, [], [64.0]),
                  helper.make_node("Cast", ["sid"], ["sid_f"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", ["sid_f", "k64"], ["offset"]),
                  helper.make_node("Add", ["ids_f", "offset"], ["ids_sid"])]
        value = "ids_sid"
    nodes += [helper.make_node("Div", [value, "k1024"], ["val"]),
              helper.make_node("Unsqueeze", ["val", "axis2"], ["col"]),
              helper.make_node("Gather", ["scales", "one"], ["length_scale"], axis=0),
              helper.make_node("Mul", ["length_scale", "hop"], ["r_f"]),
              helper.make_node("Round", ["r_f"], ["r_round"]),
              helper.make_node("Cast", ["r_round"], ["r_i"], to=TensorProto.INT64),
              helper.make_node("Reshape", ["r_i", "r_shape"], ["r"]),
              helper.make_node("Concat", ["ones2", "r"], ["repeats"], axis=0),
              helper.make_node("Tile", ["col", "repeats"], ["tiled"]),
              helper.make_node("Reshape", ["tiled", "shape"], ["output"])]
    graph = helper.make_graph(nodes, "echo", [declared[n] for n in names],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, "N"])])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def read_echo(audio: np.ndarray, length_scale: float = 1.0, sid: int = 0) -> list[int]:
    step = round(HOP * length_scale)
    assert audio.dtype == np.int16 and len(audio) % step == 0
    return [round(float(v) / 32767 * 1024) - 64 * sid for v in audio[::step]]


class Spy:
    """Records what the engine feeds onnxruntime, then runs the real session."""

    def __init__(self, session) -> None:
        self.session, self.feeds = session, []

    def run(self, names, feeds):
        self.feeds.append({k: np.array(v) for k, v in feeds.items()})
        return self.session.run(names, feeds)


def spy(engine: VitsOnnxEngine) -> Spy:
    engine._session = Spy(engine._session)
    return engine._session


def espeak(text: str, ipa: str = "--ipa") -> list[str]:
    out = subprocess.run(["espeak-ng", "-q", "-b", "1", "-v", "vi", ipa], input=text.encode(), capture_output=True,
                         check=True).stdout.decode()
    return [line.strip() for line in out.splitlines() if line.strip()]


# ── MMS (transformers) ─────────────────────────────────────────────────────────────────────────
async def test_mms_loads_the_local_directory_and_speaks_int16_at_the_model_rate(mms_dir):
    engine = make_tts("mms", mms_dir, sentence_silence_s=0.1)
    assert isinstance(engine, MmsEngine) and engine.sample_rate == 16000
    audio = await engine.synth("xin chào")
    assert audio.dtype == np.int16 and audio.ndim == 1
    [ids] = engine.ids("xin chào")
    speech = len(engine.infer(ids))
    assert speech > 0 and len(audio) == speech + 1600  # the model's samples + 0.1 s of silence
    assert np.abs(audio[:speech].astype(np.int32)).max() > 0 and not audio[speech:].any()
    assert len(await engine.synth("Xin chào. Tôi là trợ lý.")) > len(audio)  # two sentences
    assert len(await engine.synth("  ")) == 0


async def test_mms_ids_are_the_vits_tokenizers_for_any_case_and_unicode_form(mms_dir):
    from transformers import VitsTokenizer

    engine = MmsEngine(mms_dir)
    expected = VitsTokenizer.from_pretrained(str(mms_dir), local_files_only=True)("xin chào")["input_ids"]
    assert expected[0::2] == [0] * (len("xin chào") + 1)  # add_blank: pad between letters
    assert engine.ids("Xin chào") == [expected]
    assert engine.ids(unicodedata.normalize("NFD", "XIN CHÀO!")) == [expected]


async def test_mms_is_deterministic_and_options_change_the_voice_key(mms_dir):
    engine = MmsEngine(mms_dir)
    first, second = await engine.synth("xin chào"), await engine.synth("xin chào")
    assert np.array_equal(first, second)
    slower = MmsEngine(mms_dir, length_scale=2.0)
    assert slower.voice_key != engine.voice_key and engine.voice_key.startswith("mms:")
    assert MmsEngine(mms_dir).voice_key == engine.voice_key


async def test_mms_text_with_nothing_sayable_is_a_synthesis_error(mms_dir):
    engine = MmsEngine(mms_dir)
    with pytest.raises(TtsError, match="nothing in '1022 !!!'"):
        await engine.synth("1022 !!!")


@pytest.mark.parametrize("missing", ["vocab.json", "tokenizer_config.json", "model.safetensors"])
def test_mms_directory_missing_a_file_says_which(mms_dir, tmp_path, missing):
    broken = tmp_path / "voice"
    shutil.copytree(mms_dir, broken)
    (broken / missing).unlink()
    with pytest.raises(TtsUnavailable, match=f"missing {missing}.*expects config.json, vocab.json"):
        make_tts("mms", broken)


def test_mms_refuses_a_config_that_is_not_vits_and_corrupt_weights(mms_dir, tmp_path):
    other = tmp_path / "bert"
    shutil.copytree(mms_dir, other)
    (other / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(TtsUnavailable, match="model_type is 'bert', not 'vits'"):
        MmsEngine(other)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(mms_dir, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(TtsUnavailable, match="cannot load the MMS voice"):
        MmsEngine(corrupt)


def test_mms_without_transformers_installed_says_which_packages(mms_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers → ImportError
    with pytest.raises(TtsUnavailable, match="needs the Python packages torch and transformers"):
        make_tts("mms", mms_dir)


# ── Piper voice: the real (tiny) VITS network on onnxruntime ───────────────────────────────────
async def test_piper_voice_runs_a_real_vits_graph(piper_vits_dir):
    engine = make_tts("piper", piper_vits_dir, phonemizer="espeak-ng", sentence_silence_s=0.0)
    assert isinstance(engine, VitsOnnxEngine) and engine.name == "piper"
    assert engine.sample_rate == 22050  # from model.onnx.json, whatever the network was built with
    one = await engine.synth("Xin chào.")
    assert one.dtype == np.int16 and one.ndim == 1 and len(one) > 0 and np.abs(one.astype(np.int32)).max() > 0
    two = await engine.synth("Xin chào. Tôi là trợ lý tổng đài.")
    assert len(two) > len(one)
    slow = VitsOnnxEngine(piper_vits_dir, layout="piper", phonemizer="espeak-ng", length_scale=3.0,
                          sentence_silence_s=0.0)
    assert len(await slow.synth("Xin chào.")) > len(one)  # durations scale with length_scale


async def test_a_neural_voice_fills_the_prompt_cache_at_8_khz(piper_vits_dir, tmp_path):
    engine = VitsOnnxEngine(piper_vits_dir, phonemizer="espeak-ng")
    cache = PromptCache.for_engine(engine, tmp_path / "prompts")
    stats = await cache.render_all(["Xin chào. Anh chị cần hỏi gì?"], engine)
    assert stats.rendered == 2 and len(list((tmp_path / "prompts").glob("*.wav"))) == 2
    audio = cache.get("Xin chào.")
    assert audio is not None and audio.dtype == np.int16 and len(audio) > 0
    assert cache.voice_key.startswith("piper:model:")  # the layout names the voice


# ── Piper voice: phonemes and ids, read back through the echo graph ────────────────────────────
def piper_echo_dir(root: Path, id_map: dict[str, list[int]], sid: bool = False, **extra) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    echo_onnx(root / "vi_VN-test-x_low.onnx", sid=sid)
    (root / "vi_VN-test-x_low.onnx.json").write_text(json.dumps(piper_config(id_map, **extra), ensure_ascii=False))
    return root


async def test_piper_ids_match_piper_phonemize_exactly(tmp_path):
    pp = pytest.importorskip("piper_phonemize")
    engine = VitsOnnxEngine(piper_echo_dir(tmp_path / "v", pp.get_espeak_map()), sentence_silence_s=0.0)
    assert engine.text.phonemizer == "piper-phonemize"
    text = "Xin chào, tôi là trợ lý."
    expected = [pp.phoneme_ids_espeak(s) for s in pp.phonemize_espeak(text, "vi")]
    assert engine.ids(text) == expected
    assert read_echo(await engine.synth(text)) == expected[0]


async def test_piper_ids_from_the_espeak_ng_program_keep_clause_punctuation(tmp_path):
    id_map = symbol_map()
    engine = VitsOnnxEngine(piper_echo_dir(tmp_path / "v", id_map), phonemizer="espeak-ng", sentence_silence_s=0.0)
    assert engine.text.phonemizer == "espeak-ng"
    name = {ids[0]: s for s, ids in id_map.items()}
    [ids] = engine.ids("Xin chào, tôi là trợ lý.")
    assert ids[:2] == id_map["^"] + id_map["_"] and ids[-1:] == id_map["$"] and set(ids[1:-1:2]) == {0}
    spoken = "".join(name[i] for i in ids[2:-1:2])
    clauses = [" ".join(espeak("Xin chào")), " ".join(espeak("tôi là trợ lý"))]
    wanted = unicodedata.normalize("NFD", f"{clauses[0]}, {clauses[1]}.")
    assert spoken == "".join(c for c in wanted if c in id_map)
    assert read_echo(await engine.synth("Xin chào, tôi là trợ lý.")) == ids
    assert len(engine.ids("Xin chào! Tôi là trợ lý? Dạ")) == 3  # one id sequence per sentence


async def test_piper_scales_speaker_and_unknown_phonemes(tmp_path, caplog):
    id_map = symbol_map()
    del id_map["ʃ"]  # "chào" has ʃ: skipped, logged once
    voice = piper_echo_dir(tmp_path / "v", id_map, sid=True, num_speakers=3,
                           speaker_id_map={"lan": 0, "minh": 2},
                           inference={"noise_scale": 0.5, "length_scale": 1.5, "noise_w": 0.7})
    engine = make_tts("vits-onnx", voice, speaker="minh", phonemizer="espeak-ng", sentence_silence_s=0.0)
    feeds = spy(engine)
    with caplog.at_level(logging.WARNING, logger="bot.tts.vits_onnx"):
        audio = await engine.synth("xin chào")
        await engine.synth("chào")
    [ids] = engine.ids("xin chào")
    assert id_map["t"][0] in ids
    assert read_echo(audio, length_scale=1.5, sid=2) == ids
    fed = feeds.feeds[0]
    assert fed["input"].dtype == np.int64 and fed["input"].shape == (1, len(ids))
    assert fed["input_lengths"].tolist() == [len(ids)] and fed["sid"].tolist() == [2]
    assert fed["scales"].dtype == np.float32 and fed["scales"].tolist() == pytest.approx([0.5, 1.5, 0.7])
    assert sum("'ʃ' not in the voice's phoneme_id_map" in r.message for r in caplog.records) == 1
    faster = VitsOnnxEngine(voice, length_scale=0.5, speaker=1, phonemizer="espeak-ng", sentence_silence_s=0.0)
    assert read_echo(await faster.synth("xin chào"), length_scale=0.5, sid=1) == ids
    assert faster.voice_key != engine.voice_key
    with pytest.raises(TtsUnavailable, match="unknown speaker 'hoa'"):
        VitsOnnxEngine(voice, speaker="hoa")
    with pytest.raises(TtsUnavailable, match="speaker 7 out of range"):
        VitsOnnxEngine(voice, speaker=7)


# ── Coqui VITS export ──────────────────────────────────────────────────────────────────────────
def coqui_dir(root: Path, **config) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    echo_onnx(root / "coqui_vits.onnx")
    base = {"model": "vits", "audio": {"sample_rate": 16000}, "add_blank": True, "use_phonemes": False,
            "text_cleaner": "multilingual_cleaners", "enable_eos_bos_chars": False,
            "characters": {"characters_class": "TTS.tts.models.vits.VitsCharacters", "pad": "<PAD>", "eos": "<EOS>",
                           "bos": "<BOS>", "blank": "<BLNK>", "characters": LETTERS, "punctuations": PUNCTUATIONS,
                           "phonemes": None, "is_unique": False, "is_sorted": True},
            "model_args": {"inference_noise_scale": 0.3, "length_scale": 1.0, "inference_noise_scale_dp": 0.6,
                           "num_speakers": 0}}
    (root / "config.json").write_text(json.dumps({**base, **config}, ensure_ascii=False), encoding="utf-8")
    return root


async def test_coqui_grapheme_voice_ids_follow_coquis_vocabulary(tmp_path):
    engine = make_tts("vits-onnx", coqui_dir(tmp_path / "c"), sentence_silence_s=0.0)
    assert engine.name == "vits-onnx" and engine.files.layout == "coqui" and engine.sample_rate == 16000
    vocab = ["<PAD>", *PUNCTUATIONS, *LETTERS, "<BLNK>"]  # VitsCharacters' order
    blank = vocab.index("<BLNK>")
    # multilingual_cleaners: lowercase, ":" → ",", "-" → " ", brackets and quotes dropped, spaces collapsed
    cleaned = "xin chào, tổng đài một không hai hai"
    letters = [vocab.index(c) for c in cleaned]
    expected = [blank] * (2 * len(letters) + 1)
    expected[1::2] = letters
    feeds = spy(engine)
    audio = await engine.synth('Xin  chào: "Tổng đài" (một-không-hai-hai)')
    assert engine.ids('Xin  chào: "Tổng đài" (một-không-hai-hai)') == [expected]
    assert read_echo(audio) == expected
    assert feeds.feeds[0]["scales"].tolist() == pytest.approx([0.3, 1.0, 0.6])
    assert "sid" not in feeds.feeds[0]


async def test_coqui_phoneme_voice_phonemises_between_punctuation_like_coqui(tmp_path):
    phonemes = "".join(sorted(set("".join(espeak("xin chào tôi là trợ lý", "--ipa=1")).replace("_", ""))))
    voice = coqui_dir(tmp_path / "c", use_phonemes=True, phoneme_language="vi", phonemizer="espeak",
                      text_cleaner="basic_cleaners",
                      characters={"characters_class": "TTS.tts.models.vits.VitsCharacters", "pad": "_",
                                  "characters": "", "phonemes": phonemes, "punctuations": PUNCTUATIONS})
    engine = VitsOnnxEngine(voice, sentence_silence_s=0.0)
    assert engine.text.phonemizer == "espeak-ng"
    vocab = ["_", *PUNCTUATIONS, *phonemes, "<BLNK>"]
    [ids] = engine.ids("Xin chào, tôi là trợ lý.")
    said = "".join(vocab[i] for i in ids[1::2])
    first, second = ("".join(espeak(t, "--ipa=1")).replace("_", "") for t in ("xin chào", "tôi là trợ lý"))
    assert said == f"{first}, {second}."
    assert set(ids[0::2]) == {vocab.index("<BLNK>")}


# ── layouts, errors, registry ──────────────────────────────────────────────────────────────────
def test_a_directory_with_the_wrong_files_says_which_it_expects(tmp_path):
    with pytest.raises(TtsUnavailable, match="does not exist.*NAME.onnx \\+ NAME.onnx.json"):
        make_tts("piper", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TtsUnavailable, match="no .onnx model; expected NAME.onnx \\+ NAME.onnx.json \\(a Piper voice\\) "
                                             "or NAME.onnx \\+ config.json"):
        make_tts("vits-onnx", tmp_path / "empty")
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    echo_onnx(lonely / "model.onnx")
    with pytest.raises(TtsUnavailable, match="found model.onnx; expected.*config beside model.onnx is missing"):
        make_tts("vits-onnx", lonely)
    coqui = coqui_dir(tmp_path / "coqui")
    with pytest.raises(TtsUnavailable, match="expected NAME.onnx \\+ NAME.onnx.json \\(a Piper voice\\)"):
        make_tts("piper", coqui)  # a Coqui export is not a Piper voice
    two = piper_echo_dir(tmp_path / "two", symbol_map())
    echo_onnx(two / "other.onnx")
    (two / "other.onnx.json").write_text("{}")
    with pytest.raises(TtsUnavailable, match="several voices \\(other.onnx, vi_VN-test-x_low.onnx\\)"):
        find_voice(two)


def test_unreadable_models_and_configs_are_refused_at_load(tmp_path):
    voice = piper_echo_dir(tmp_path / "v", symbol_map())
    onnx_file = voice / "vi_VN-test-x_low.onnx"
    config_file = voice / "vi_VN-test-x_low.onnx.json"
    good = onnx_file.read_bytes()
    onnx_file.write_bytes(b"\x00garbage")
    with pytest.raises(TtsUnavailable, match="onnxruntime cannot load it"):
        VitsOnnxEngine(voice)
    echo_onnx(onnx_file, inputs=("input", "scales"))
    with pytest.raises(TtsUnavailable, match="are not a VITS export's \\(input, input_lengths, scales"):
        VitsOnnxEngine(voice)
    onnx_file.write_bytes(good)
    config_file.write_text('{"audio": {"sample_rate": 22050}}')
    with pytest.raises(TtsUnavailable, match="not a Piper voice config.*phoneme_id_map"):
        VitsOnnxEngine(voice)
    config_file.write_text("{not json")
    with pytest.raises(TtsUnavailable, match="not readable JSON"):
        VitsOnnxEngine(voice)
    coqui = coqui_dir(tmp_path / "c", text_cleaner="english_cleaners")
    with pytest.raises(TtsUnavailable, match="text_cleaner 'english_cleaners' is not supported"):
        VitsOnnxEngine(coqui)


def test_without_onnxruntime_installed_the_engine_says_so(tmp_path, monkeypatch):
    voice = piper_echo_dir(tmp_path / "v", symbol_map())
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(TtsUnavailable, match="'piper' needs the Python package onnxruntime"):
        make_tts("piper", voice)


@pytest.mark.parametrize("name", ["mms", "piper", "vits-onnx"])
@pytest.mark.parametrize("model_dir", [None, "", "  "])
def test_neural_engines_without_a_model_directory_point_at_the_setting(name, model_dir):
    with pytest.raises(TtsUnavailable, match=f"'{name}'.*needs a model directory: set voice.tts_model_dir"):
        make_tts(name, model_dir)


def test_relative_model_directories_are_from_the_project_root(tmp_path, monkeypatch):
    piper_echo_dir(tmp_path / "voices" / "vi", symbol_map())
    monkeypatch.setattr(registry, "ROOT", tmp_path)
    engine = make_tts("piper", "voices/vi")
    assert engine.files.model == tmp_path / "voices/vi/vi_VN-test-x_low.onnx"


def test_the_registry_lists_every_engine_and_imports_nothing_heavy_for_espeak():
    assert registry.AVAILABLE == ("espeak", "kokoro", "mms", "piper", "vits-onnx")
    with pytest.raises(ValueError, match="unknown TTS engine 'festival'; available: espeak, kokoro, mms, piper, vits-onnx"):
        make_tts("festival")
    code = ("import sys; from bot.tts import make_tts; make_tts('espeak'); "
            "print(sorted(m for m in ('torch', 'transformers', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"
