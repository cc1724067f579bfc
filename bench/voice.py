"""Voice benchmark: how well a caller would follow every sentence the bot can say.

Each sentence (bot/tts/texts.py: FAQ answers, intent responses, prompts per branch, the safety
net's messages) is played as a call would play it, through an 8 kHz G.711 µ-law line, and read
back by the default recogniser; the character error rate against the text is the score
(bot/tts/roundtrip.py). Reported by source (editors' recordings, as callers hear the line
today) and by synthetic voice (every sentence synthesised by each candidate), with the
greeting's length in seconds.

`run(settings)` returns a JSON-able dict; `section(result)` renders it for docs/benchmarks.md.
`python -m bench.voice` runs it alone and prints the section.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.voice_measure import Voice, measure, summary

# Candidates. The first is the reference (the default before issue 9: espeak-ng vi+f2 at 140); the
# second is today's default. The espeak variants after it were measured on every third sentence;
# Kokoro synthesises slower than real time on 2 busy cores (see the last column), so a run may be
# reported on the sentences it finished (`--reuse ... --reused-only`), beside the reference's
# score on the same sentences.
CANDIDATES: tuple[Voice, ...] = (
    Voice("espeak-ng vi+f2, speed 140 (the old default)", "espeak", {"voice": "vi+f2", "speed": 140}),
    Voice("espeak-ng vi+f2, speed 120 (the default)", "espeak", {"voice": "vi+f2", "speed": 120}),
    Voice("espeak-ng vi+f2, speed 120, word gap 2", "espeak", {"voice": "vi+f2", "speed": 120, "gap": 2}, every=3),
    Voice("espeak-ng vi+m3, speed 120", "espeak", {"voice": "vi+m3", "speed": 120}, every=3),
    Voice("Kokoro-82M jf_alpha, sea-g2p phonemes, no tones", "kokoro", {"voice": "jf_alpha", "tones": "none"}),
)


def run(settings: Any, candidates: tuple[Voice, ...] = CANDIDATES,
        reuse: list[dict[str, Any]] | tuple[()] = (), reused_only: bool = False) -> dict[str, Any]:
    """`reuse`: earlier measurements ({"engine", "options", "rows"}); a row is taken over when the
    same voice measured the same id with the same text (a slow voice's hour is not spent twice).
    `reused_only`: a voice with earlier rows is reported on those alone (a partial run), nothing
    new is measured for it."""
    from bot.content.load import load_knowledge_base
    from bot.tts.coverage import kinds
    from bot.tts.recordings import RecordedPrompts
    from bot.tts.texts import spoken_texts

    kb, _ = load_knowledge_base(settings.path(settings.content.dir))
    if kb is None:
        raise SystemExit("data/faq/ has errors: run `bot validate`")
    texts = spoken_texts(kb)
    kind = kinds(kb)
    items = list(texts.items())
    asr = settings.voice.asr_engine
    default = Voice(f"{settings.voice.tts_engine} (default settings)", settings.voice.tts_engine, {})
    result: dict[str, Any] = {"n": len(items), "asr": asr, "default_engine": settings.voice.tts_engine,
                              "voices": [], "greeting": {}}
    baseline: dict[str, float] = {}
    for voice in candidates:
        chosen = items[::voice.every][:voice.limit]
        if not any(sid == "greeting" for sid, _ in chosen):
            chosen.append(("greeting", texts["greeting"]))  # its length is reported for every voice
        old = {r["id"]: r for e in reuse if e["engine"] == voice.engine and e["options"] == voice.options
               for r in e["rows"] if r.get("text") == texts.get(r["id"])}
        if reused_only and old:
            chosen = [(sid, text) for sid, text in chosen if sid in old]
        todo = [(sid, text) for sid, text in chosen if sid not in old]
        print(f"   {voice.label}: {len(todo)} of {len(chosen)} sentences to measure", file=sys.stderr, flush=True)
        fresh = {r["id"]: r for r in (measure(voice, todo, asr) if todo else [])}
        rows = [old.get(sid) or fresh[sid] for sid, _ in chosen]
        entry = _voice_result(voice, rows, kind)
        if baseline and len(rows) < len(items):
            entry["old_default_same_sentences"] = round(statistics.fmean(baseline[r["id"]] for r in rows), 4)
        if not baseline:  # the first candidate is the reference
            baseline = {r["id"]: r["cer"] for r in rows}
        result["voices"].append(entry)
        greeting = next((r for r in rows if r["id"] == "greeting"), None)
        if greeting is not None:
            result["greeting"][voice.label] = round(greeting["seconds"], 1)

    recordings_dir = settings.path(settings.voice.recordings_dir)
    recorded = len(RecordedPrompts(recordings_dir))
    result["recordings"] = {"dir": str(settings.voice.recordings_dir), "usable": recorded}
    if recorded:
        # The line as callers hear it today: recordings where current, the default voice elsewhere.
        rows = measure(default, items, asr, recordings_dir=recordings_dir)
        result["as_heard"] = {src: summary([r for r in rows if r["source"] == src]) for src in ("recording", "synthetic")
                              if any(r["source"] == src for r in rows)}
        result["greeting"]["as heard (default voice + recordings)"] = round(
            next(r for r in rows if r["id"] == "greeting")["seconds"], 1)
    return result


def _voice_result(voice: Voice, rows: list[dict[str, Any]], kind: dict[str, str]) -> dict[str, Any]:
    by_kind = {}
    for k in sorted(set(kind.values())):
        cers = [r["cer"] for r in rows if kind[r["id"]] == k]
        if cers:
            by_kind[k] = {"n": len(cers), "mean_cer": round(statistics.fmean(cers), 4)}
    # Whole rows: a later run can take them over (`--reuse bench/results/voice.json`).
    return {"label": voice.label, "engine": voice.engine, "options": voice.options, **summary(rows),
            "by_kind": by_kind, "rows": rows}


def _kind_cell(k: dict[str, Any] | None) -> str:
    return "–" if k is None else f"{_pct(k['mean_cer'])} ({k['n']})"


def _seconds(x: float | None) -> str:
    return "–" if x is None else f"{x} s"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def section(r: dict[str, Any]) -> str:
    kinds = sorted({k for v in r["voices"] for k in v["by_kind"]})
    lines = ["## Voice (what a caller can follow: the recogniser's round trip)", "",
             f"Every sentence the bot can say ({r['n']}: FAQ answers, intent responses, prompts per branch, the",
             "safety net's messages), played as a call plays it (sentence by sentence from the prompt cache,",
             f"8 kHz G.711 µ-law) and read back by `{r['asr']}`: the character error rate (CER, 0..1, capped at 1",
             "per sentence) against the text. Natural read speech scores about 5 % on the same recogniser",
             "(see ASR below). Synthesis time: per second of speech, one worker process per core.", "",
             "| synthetic voice | sentences | mean CER | median | " + " | ".join(f"{k} (n)" for k in kinds)
             + " | worst sentences | greeting | synthesis s per s of speech |",
             "|---|---|---|---|" + "---|" * len(kinds) + "---|---|---|"]
    for v in r["voices"]:
        worst = ", ".join(f"{w['id']} {w['cer']:.0%}" for w in v["worst"][:3])
        n = f"{v['n']}" if v["n"] >= r["n"] else f"{v['n']} (old default on these: {_pct(v.get('old_default_same_sentences'))})"
        lines.append(f"| {v['label']} | {n} | {_pct(v['mean_cer'])} | {_pct(v['median_cer'])} | "
                     + " | ".join(_kind_cell(v["by_kind"].get(k)) for k in kinds)
                     + f" | {worst} | {_seconds(r['greeting'].get(v['label']))} | {v['synth_rtf']} |")
    rec = r["recordings"]
    lines += ["", f"Default engine (settings.yml `voice.tts_engine`): `{r['default_engine']}`."]
    if "as_heard" in r:
        lines += ["", "As callers hear the line today (editors' recordings where current, the default voice elsewhere):", "",
                  "| source | sentences | mean CER | median | worst |", "|---|---|---|---|---|"]
        for src, s in r["as_heard"].items():
            worst = ", ".join(f"{w['id']} {w['cer']:.0%}" for w in s["worst"][:3])
            lines.append(f"| {src} | {s['n']} | {_pct(s['mean_cer'])} | {_pct(s['median_cer'])} | {worst} |")
    else:
        lines += ["", f"Editors' recordings: none usable in `{rec['dir']}` yet, so every sentence is synthetic."]
    return "\n".join(lines) + "\n"


def _earlier(path: Path) -> list[dict[str, Any]]:
    """A saved result (bench/results/voice.json) or JSON lines of {engine, options, rows}."""
    text = path.read_text(encoding="utf-8")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return whole["voices"] if isinstance(whole, dict) and "voices" in whole else [whole]


def main() -> None:
    """`python -m bench.voice [--reuse FILE.jsonl ...] [--save]`: --save writes bench/results/voice.*
    as `bench.run` does (then `python -m bench.run --only ""` rewrites docs/benchmarks.md)."""
    import argparse
    import datetime as dt
    import subprocess

    from bench.run import RESULTS, ROOT, machine
    from bot.config import load_settings

    parser = argparse.ArgumentParser()
    parser.add_argument("--reuse", nargs="*", default=[],
                        help="earlier measurements: bench/results/voice.json, or JSON lines of {engine, options, rows}")
    parser.add_argument("--reused-only", action="store_true",
                        help="report a voice with earlier rows on those alone (a partial run)")
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args()
    reuse = [entry for path in args.reuse for entry in _earlier(Path(path))]
    res = run(load_settings(), reuse=reuse, reused_only=args.reused_only)
    text = section(res)
    if args.save:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, check=False,
                                text=True).stdout.strip()
        res["meta"] = {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": machine(), "commit": commit}
        (RESULTS / "voice.json").write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
        (RESULTS / "voice.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
