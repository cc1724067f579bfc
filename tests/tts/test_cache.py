"""The prompt cache: keys, hits and misses, sentence assembly, live synthesis of what is missing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.tts.cache import PromptCache, cache_key
from bot.tts.espeak import EspeakEngine
from tests.tts.conftest import FakeEngine

A = "Lao động tự do được hỗ trợ một lần."
B = "Anh chị còn cần hỏi gì thêm không ạ?"


def test_miss_then_put_then_hit_as_8_khz_wav(tmp_path: Path):
    cache = PromptCache(tmp_path, "fake:a")
    assert cache.get(A) is None
    path = cache.put(A, np.full(16000, 1000, dtype=np.int16), 16000)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    audio = cache.get(A)
    assert audio is not None and audio.dtype == np.int16 and abs(len(audio) - 8000) <= 2
    assert abs(int(np.median(audio)) - 1000) < 20


def test_key_changes_with_text_voice_and_rate_but_not_with_spacing():
    base = cache_key("fake:a", 8000, A)
    assert cache_key("fake:a", 8000, "  " + A.replace(" ", "   ")) == base
    assert cache_key("fake:a", 8000, A.replace("một", "hai")) != base
    assert cache_key("fake:b", 8000, A) != base
    assert cache_key("fake:a", 16000, A) != base


def test_a_different_voice_does_not_see_the_files_of_another(tmp_path: Path):
    PromptCache(tmp_path, "fake:a").put(A, np.ones(800, dtype=np.int16), 8000)
    assert PromptCache(tmp_path, "fake:b").get(A) is None


async def test_render_all_then_replies_joined_from_known_texts_are_hits(tmp_path: Path, fake: FakeEngine):
    cache = PromptCache.for_engine(fake, tmp_path)
    stats = await cache.render_all([A, B], fake)
    assert (stats.rendered, stats.cached) == (2, 0)
    joined = cache.get(A + " " + B)  # an answer followed by "anything else?"
    assert joined is not None and abs(len(joined) - (len(A) + len(B)) * 80) <= 4
    assert cache.get(A + " Câu này chưa có.") is None
    again = await cache.render_all([A, B, A + " " + B], fake)
    assert (again.rendered, again.cached) == (0, 2)
    assert len(fake.calls) == 2


async def test_live_synthesis_only_for_the_missing_sentence_which_is_then_kept(tmp_path: Path, fake: FakeEngine):
    cache = PromptCache.for_engine(fake, tmp_path)
    await cache.render_all([A], fake)
    fake.calls.clear()
    new = "Câu này chưa có."
    audio = await cache.audio(f"{A} {new}", fake)
    assert fake.calls == [new]
    assert abs(len(audio) - (len(A) + len(new)) * 80) <= 4
    assert cache.get(new) is not None


async def test_rendering_with_another_voice_is_refused(tmp_path: Path, fake: FakeEngine):
    cache = PromptCache.for_engine(fake, tmp_path)
    with pytest.raises(ValueError, match="fake:a.*fake:b"):
        await cache.render_all([A], FakeEngine(voice="b"))


async def test_real_espeak_render_is_kept_at_telephone_rate(tmp_path: Path):
    engine = EspeakEngine()
    cache = PromptCache.for_engine(engine, tmp_path)
    live = await engine.synth(A)
    await cache.render_all([A], engine)
    cached = cache.get(A)
    assert cached is not None
    assert abs(len(cached) - len(live) * 8000 / 22050) < 10
    assert cache.size()[0] == 1


def test_a_text_put_whole_is_found_whole(tmp_path: Path):
    cache = PromptCache(tmp_path, "fake:a")
    cache.put(A + " " + B, np.full(8000, 500, dtype=np.int16), 8000)
    assert cache.get(A) is None and len(cache.get(A + " " + B)) == 8000


async def test_a_damaged_cache_file_is_a_miss_and_is_synthesised_again(tmp_path: Path, fake: FakeEngine):
    cache = PromptCache.for_engine(fake, tmp_path)
    await cache.render_all([A], fake)
    cache.path(A).write_bytes(b"RIFF")  # a render killed half-way
    assert cache.get(A) is None
    audio = await cache.audio(A, fake)
    assert len(fake.calls) == 2 and abs(len(audio) - len(A) * 80) <= 2
    assert cache.get(A) is not None
