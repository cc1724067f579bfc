"""The studio benchmark runs end to end on two real takes and reports what it claims to."""
from __future__ import annotations

from bench import studio as bench_studio
from tests.conftest import needs_speech


@needs_speech
async def test_upload_to_live_measures_every_take_and_the_calls_pacing(settings, monkeypatch):
    monkeypatch.setattr(bench_studio, "BASELINE_S", 0.5)
    takes = bench_studio._transcripts("vieneu")[:2]
    result = await bench_studio.upload_to_live(settings, takes)
    assert result["all_live"] and [t["live"] for t in result["takes"]] == [True, True]
    assert [t["file"] for t in result["takes"]] == [f"vieneu/{p.name}" for p, _ in takes]
    assert all(t["words_ok"] for t in result["takes"])
    assert all(0 < t["accept_s"] < t["total_s"] for t in result["takes"])
    assert result["pacing"]["without_studio_work"]["frames"] > 0
    assert result["pacing"]["while_takes_are_processed"]["frames"] > 0
    text = bench_studio.section({"upload_to_live": result, "word_check": {
        "n": 1, "seconds": 1.0, "own_text_flagged": 0, "own_text_flagged_files": [], "own_text_mean_cer": 0.0,
        "other_text_flagged": 1, "skipped_clause_flagged": 1, "wrong_number_flagged": 1}})
    assert "## Voice studio" in text and takes[0][0].name in text
