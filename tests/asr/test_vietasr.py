"""The default engine (viet-asr's model run by onnxruntime) on real recordings, through the
project's own telephone path, and its streaming contract."""
import threading

import numpy as np
import pytest

from bot.asr.base import AsrError
from bot.asr.metrics import error_rates, normalise
from bot.asr.registry import make_asr
from bot.asr.vietasr_onnx_engine import VietAsrOnnxEngine, embedded_model

from .conftest import held_out, long_turn, needs_speech, phone_line, stream_in_frames, transcripts


def test_the_registry_default_is_this_engine(vietasr_engine):
    engine = make_asr("vietasr")
    try:
        assert isinstance(engine, VietAsrOnnxEngine)
    finally:
        engine.close()


def test_the_model_and_tokens_come_from_the_installed_wheel():
    model, tokens = embedded_model()
    assert model[:2] == b"\x08\x08" or len(model) > 60_000_000  # an ONNX protobuf, ~69 MB
    assert tokens[0] == "<blank>" and tokens[1] == "<unk>" and len(tokens) >= 4968
    assert sum(t.startswith("\u2581") for t in tokens) > 4000  # sentence pieces with word marks


def test_a_model_directory_is_refused():
    with pytest.raises(AsrError, match="embedded"):
        VietAsrOnnxEngine(model_dir="/tmp")


@needs_speech
def test_held_out_recordings_over_the_phone_line(vietasr_engine):
    # Measured: CER 0.037, WER 0.074 on these 16 files (10 VIVOS test + 6 vieneu); the library
    # itself (vietasr-native) 0.061 / 0.131. Deterministic (greedy decoding, one thread).
    items = held_out()
    assert len(items) == 16
    pairs = [(ref, stream_in_frames(vietasr_engine, phone_line(path))) for path, ref in items]
    assert all(hyp for _, hyp in pairs), "a recording came back empty"
    wer, cer = error_rates(pairs)
    assert cer < 0.045 and wer < 0.09, (wer, cer)


@needs_speech
def test_a_clear_sentence_is_recognised_exactly(vietasr_engine):
    path, ref = transcripts("vieneu")[2]  # ly_female_north
    assert path.name == "ly_female_north.wav"
    assert stream_in_frames(vietasr_engine, phone_line(path)) == normalise(ref)


@needs_speech
def test_any_chunking_gives_the_same_text(vietasr_engine):
    audio = phone_line(transcripts("vieneu")[0][0])
    in_frames = stream_in_frames(vietasr_engine, audio)
    for size in (1, 77, 4000, audio.size):
        with vietasr_engine.stream() as stream:
            for i in range(0, audio.size, size):
                stream.accept(audio[i:i + size])
            assert stream.final() == in_frames, size


@needs_speech
def test_partials_grow_and_final_starts_a_fresh_turn(vietasr_engine):
    first = phone_line(transcripts("vieneu")[2][0])
    second = phone_line(transcripts("vieneu")[0][0])
    with vietasr_engine.stream() as stream:
        partials = []
        for i in range(0, first.size, 160):
            stream.accept(first[i:i + 160])
            if i % 8000 == 0:
                partials.append(stream.partial())
        assert partials[0] == "" and len(partials[-1]) > len(partials[1]) > 0
        text_one = stream.final()
        assert stream.partial() == ""
        stream.accept(second)
        text_two = stream.final()
    assert text_one.startswith("chúng ta") and "chúng ta" not in text_two and text_two
    assert text_two == stream_in_frames(vietasr_engine, second)  # nothing of the first turn carried over


@needs_speech
def test_a_long_turn_loses_no_text(vietasr_engine):
    """31 s of speech in one turn (the library itself forgets the first ~8 s of this)."""
    turn = long_turn(vietasr_engine)
    whole, separately, at_once, references = turn.whole, turn.separately, turn.at_once, turn.references
    assert whole.size / 8000 > 30
    assert error_rates([(separately, at_once)])[1] < 0.06
    assert error_rates([(references, at_once)])[1] < error_rates([(references, separately)])[1] + 0.02
    assert at_once.split()[:2] == separately.split()[:2]


def test_silence_gives_empty_text(vietasr_engine):
    assert vietasr_engine.transcribe(np.zeros(8000 * 2, np.int16), 8000) == ""
    with vietasr_engine.stream() as stream:
        assert stream.final() == ""  # a turn with no audio at all
        stream.accept(np.zeros(40, np.int16))  # shorter than one feature frame
        assert stream.final() == ""


def test_streams_refuse_float_audio_grammar_and_use_after_close(vietasr_engine):
    with vietasr_engine.stream() as stream:
        with pytest.raises(TypeError):
            stream.accept(np.zeros(160, np.float32))
    with pytest.raises(AsrError, match="grammar"):
        vietasr_engine.stream(grammar=["có"])
    stream.close()
    stream.close()  # closing twice is harmless
    with pytest.raises(AsrError, match="closed"):
        stream.accept(np.zeros(160, np.int16))


@needs_speech
def test_streams_on_one_engine_in_several_threads_agree_with_one_at_a_time(vietasr_engine):
    # One onnxruntime session serves every stream; its run() is thread-safe (the native library
    # was not: two threads on one model crashed it).
    audio = [phone_line(p) for p, _ in transcripts("vieneu")[:4]]
    alone = [stream_in_frames(vietasr_engine, x) for x in audio]
    together: list[str | None] = [None] * len(audio)

    def hear(i: int) -> None:
        together[i] = stream_in_frames(vietasr_engine, audio[i])

    threads = [threading.Thread(target=hear, args=(i,)) for i in range(len(audio))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert together == alone
