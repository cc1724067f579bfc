"""One way to choose and build engines, one error when an engine cannot run here."""
from __future__ import annotations

import numpy as np
import pytest

from bot.asr.base import AsrError
from bot.asr.registry import ENGINES as ASR
from bot.asr.registry import make_asr
from bot.engines import EngineSpec, EngineUnavailable, Registry, UnknownEngine
from bot.tts.base import TtsUnavailable
from bot.tts.registry import make_tts
from bot.vad.registry import VadUnavailable, make_vad


@pytest.mark.parametrize("build, own_error", [(lambda: make_asr("whisper-xl"), AsrError),
                                              (lambda: make_tts("festival"), TtsUnavailable),
                                              (lambda: make_vad("webrtc"), VadUnavailable)])
def test_an_unknown_name_is_the_one_error_of_every_kind(build, own_error) -> None:
    with pytest.raises(EngineUnavailable, match="available:") as caught:
        build()
    assert isinstance(caught.value, own_error) and isinstance(caught.value, UnknownEngine)
    assert isinstance(caught.value, ValueError)  # a configuration mistake


def test_a_voice_that_needs_a_model_directory_says_where_to_set_it() -> None:
    with pytest.raises(EngineUnavailable, match="needs a model directory.*voice.tts_model_dir"):
        make_tts("piper")


def test_a_missing_package_names_what_to_install() -> None:
    registry: Registry[object] = Registry("ASR", {"ghost": EngineSpec("bot.asr.no_such_module", "Ghost",
                                                                      packages="ghost-asr")}, error=AsrError)
    with pytest.raises(AsrError, match="ghost-asr"):
        registry.make("ghost")


def test_every_registered_engine_module_exists() -> None:
    import importlib.util

    from bot.tts.registry import ENGINES as TTS
    from bot.vad.registry import ENGINES as VAD

    for registry in (ASR, TTS, VAD):
        for name in registry:
            assert importlib.util.find_spec(registry.spec(name).module), (registry.kind, name)


def test_each_call_gets_its_own_detector_on_one_shared_model() -> None:
    factory = make_vad("silero-onnx")
    first, second = factory(), factory()
    assert first is not second
    assert first._model is second._model  # noqa: SLF001 - the point: the model loads once


def test_a_gateway_hearing_calls_in_processes_loads_no_recogniser_of_its_own(settings):
    """Its workers load their own; the gateway's copy (~300 MB) would only take memory."""
    from bot.asr.registry import OnDemandAsr
    from bot.call.session import make_engines
    from bot.content.load import load_knowledge_base

    kb, _ = load_knowledge_base(settings.path(settings.content.dir))
    engines = make_engines(settings.replace(gateway={"recognition": "processes"}), kb)
    assert isinstance(engines.asr, OnDemandAsr) and not engines.asr.loaded
    threads = make_engines(settings.replace(gateway={"recognition": "threads"}), kb)
    assert not isinstance(threads.asr, OnDemandAsr)  # threads use it at once: loaded at start-up
    threads.asr.close()


def test_an_engine_on_demand_loads_at_its_first_stream_and_frees_on_close():
    from bot.asr.registry import OnDemandAsr
    from bot.engines import UnknownEngine

    with pytest.raises(UnknownEngine):
        OnDemandAsr("no-such-engine")  # a configuration mistake is said at start-up, not at a call
    engine = OnDemandAsr("vietasr")
    assert not engine.loaded
    with engine.stream() as stream:
        stream.accept(np.zeros(1600, np.int16))
        assert stream.final() == ""
    assert engine.loaded and engine.sample_rate == 8000
    engine.close()
    assert not engine.loaded
