"""The voice benchmark's bookkeeping (the measuring itself is bench/voice_measure.py with real
engines; here the measurer is replaced, so these run in milliseconds)."""
from __future__ import annotations

from bench import voice
from bench.voice_measure import Voice
from bot.tts.texts import spoken_texts

ESPEAK = Voice("espeak test", "espeak", {"speed": 120})


def fake_row(sid: str, text: str, cer: float = 0.5) -> dict:
    return {"id": sid, "text": text, "cer": cer, "heard": "", "seconds": 2.0, "synth_s": 0.1, "synth_audio_s": 2.0,
            "source": "synthetic"}


def test_rows_measured_earlier_for_the_same_voice_and_text_are_reused(settings, kb, monkeypatch):
    texts = spoken_texts(kb)
    asked: list[list[str]] = []

    def measure(v, items, asr, **kw):
        asked.append([sid for sid, _ in items])
        return [fake_row(sid, text, 0.9) for sid, text in items]

    monkeypatch.setattr(voice, "measure", measure)
    # Earlier rows: every sentence, but the greeting with an older text and one id for another voice.
    earlier = [fake_row(sid, text if sid != "greeting" else "Lời chào cũ.") for sid, text in texts.items()]
    reuse = [{"engine": "espeak", "options": {"speed": 120}, "rows": earlier},
             {"engine": "espeak", "options": {"speed": 140}, "rows": [fake_row(kb.faqs[0].id, "x")]}]
    result = voice.run(settings, candidates=(ESPEAK,), reuse=reuse)
    assert asked == [["greeting"]]  # only the changed text is measured again
    (v,) = result["voices"]
    assert v["n"] == len(texts) and result["n"] == len(texts)
    by_id = {r["id"]: r for r in v["rows"]}
    assert by_id["greeting"]["cer"] == 0.9 and by_id[kb.faqs[0].id]["cer"] == 0.5
    assert result["greeting"][ESPEAK.label] == 2.0


def test_the_section_shows_each_voice_by_kind_with_its_greeting_and_speed(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(voice, "measure", lambda v, items, asr, **kw: [
        fake_row(sid, text, 0.2 if sid.startswith("danger") else 0.6) for sid, text in items])
    result = voice.run(settings.replace(voice={"recordings_dir": str(tmp_path)}), candidates=(ESPEAK,))
    text = voice.section(result)
    row = next(line for line in text.splitlines() if line.startswith("| espeak test"))
    assert f"| {result['n']} |" in row and "| 2.0 s |" in row and "| 0.05 |" in row
    assert "20.0% (" in row and "60.0% (" in row  # danger messages vs the rest, by kind
    assert "none usable" in text  # no recordings in an empty directory


def test_a_partial_run_is_reported_on_its_own_sentences_beside_the_old_default(settings, kb, monkeypatch):
    texts = list(spoken_texts(kb).items())
    monkeypatch.setattr(voice, "measure", lambda v, items, asr, **kw: [fake_row(s, t, 0.5) for s, t in items])
    slow = Voice("slow", "kokoro", {})
    partial = [fake_row(sid, text, 0.25) for sid, text in texts[:4]]
    result = voice.run(settings, candidates=(ESPEAK, slow), reuse=[{"engine": "kokoro", "options": {}, "rows": partial}],
                       reused_only=True)
    old, new = result["voices"]
    assert old["n"] == len(texts) and new["n"] == 4 and new["mean_cer"] == 0.25
    assert new["old_default_same_sentences"] == 0.5
    assert "slow" not in result["greeting"]  # not measured in the partial run
    assert "| 4 (old default on these: 50.0%) |" in voice.section(result)
