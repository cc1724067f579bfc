"""Voice studio benchmark: how long a take takes from upload to live, and how the word check
judges real recordings.

Upload to live: a gateway (fake call engines, the real studio and its real recogniser) over a
copy of the knowledge base in which six fixed prompts say what six real recordings say
(../shared/speech/vieneu). Each recording is uploaded over HTTP as an editor's browser does,
then accepted; the clock stops when the gateway's prompt cache plays the recording for that text
(the next sentence of any call). The first take also loads the recogniser (cold).

Word check: every real recording (vieneu + vivos, 76) is processed as a take and checked against
its own transcript (a flag is a false alarm) and against another recording's transcript (a flag
is right). Two editor mistakes are simulated in text, since no recordings of misreadings exist:
the sentence has a clause the take skips, and the sentence and the take differ in one number.
"""
from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT.parent / "shared/speech"
PROMPTS = ("greeting", "anything_else", "ask_question", "rephrase", "nothing_to_repeat", "empty_input")
CALLS = 4          # live calls on the same gateway while takes are processed
BASELINE_S = 8.0   # their pacing is measured this long without studio work, for comparison
EDITOR, PASSWORD = "bench", "bench-password-2026"


def _transcripts(folder: str) -> list[tuple[Path, str]]:
    rows = (SPEECH / folder / "transcripts.tsv").read_text(encoding="utf-8").splitlines()
    return [(SPEECH / folder / name, text) for name, text in (row.split("\t", 1) for row in rows)]


def _set_prompt(content: Path, name: str, text: str) -> None:
    path = content / "prompts.yml"
    source, n = re.subn(rf'^  {name}: ".*"$', f'  {name}: "{text}"', path.read_text(encoding="utf-8"),
                        flags=re.MULTILINE)
    if n != 1:
        raise RuntimeError(f"no prompt {name} in {path}")
    path.write_text(source, encoding="utf-8")


async def upload_to_live(settings: Settings, takes: list[tuple[Path, str]] | None = None) -> dict[str, Any]:
    """Seconds from the start of an upload to the take being what calls play, per take.

    `takes`: (audio file, what it says); default the six vieneu recordings. Returns per-take
    timings (upload = decode + trim + loudness + word check; accept = write + live reload) and
    their medians over the warm takes (all but the first, which also loads the recogniser)."""
    # The calls' engines are the test fakes: this measures the studio, not the calls.
    from bot.call.session import Engines, call_config
    from bot.content.load import load_knowledge_base
    from bot.gateway.host import CallHost
    from bot.studio.auth import hash_password, write_users
    from bot.transports.web import start_web
    from bot.tts.cache import PromptCache
    from bot.tts.recordings import RecordedPrompts
    from tests import fakes

    takes = takes or _transcripts("vieneu")[: len(PROMPTS)]
    with tempfile.TemporaryDirectory(prefix="bench-studio-") as tmp_name:
        tmp = Path(tmp_name)
        content = tmp / "faq"
        shutil.copytree(ROOT / "data/faq", content)
        for name, (_, text) in zip(PROMPTS, takes):
            _set_prompt(content, name, text)
        s = settings.replace(
            content={"dir": str(content)}, web={"port": 0}, privacy={"records_dir": str(tmp / "records")},
            voice={"recordings_dir": str(tmp / "recordings"), "prompt_cache_dir": str(tmp / "prompts")},
            studio={"users_file": str(tmp / "users"), "work_dir": str(tmp / "studio")})
        write_users(tmp / "users", {EDITOR: hash_password(PASSWORD)})
        kb, _ = load_knowledge_base(content)
        voice = fakes.FakeVoice()
        cache = PromptCache.for_engine(voice, tmp / "prompts", recordings=RecordedPrompts(tmp / "recordings"))
        engines = Engines(asr=fakes.FakeAsr(), tts=voice, cache=cache, vad=fakes.FakeVad, kb=kb)
        host = CallHost(s, engines, fakes.KeywordBrain(), call_config(s),
                        asr_factory=fakes.recogniser_factory(engines))
        server = await start_web(host, s)
        base = server.address + "/studio"
        rows = []
        # Calls in progress on the same gateway (the bot talking, paced every 20 ms): how late
        # their frames leave, without studio work and while takes are processed.
        calls = [host.open_call(fakes.RecordingPeer()) for _ in range(CALLS)]
        running = [asyncio.create_task(c.run()) for c in calls]
        lines = [fakes.CallerLine(c) for c in calls]
        pacing: dict[str, dict[str, Any]] = {}
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                form = await (await http.get(f"{base}/login")).text()
                token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
                await http.post(f"{base}/login", data={"user": EDITOR, "password": PASSWORD, "csrf": token})
                await http.get(f"{base}/api/sentences")  # the editor opens the list first (reads the KB)
                headers = {"X-CSRF-Token": (await (await http.get(f"{base}/api/session")).json())["csrf"]}
                host.stats.lateness_ms.clear()
                await asyncio.sleep(BASELINE_S)
                pacing["without_studio_work"] = _pacing(list(host.stats.lateness_ms))
                host.stats.lateness_ms.clear()
                for name, (path, text) in zip(PROMPTS, takes):
                    data = path.read_bytes()
                    t0 = time.perf_counter()
                    reply = await http.post(f"{base}/api/sentences/{name}/takes", data=data, headers=headers)
                    take = await reply.json()
                    t1 = time.perf_counter()
                    ok = await http.post(f"{base}/api/takes/{take['take']}/accept",
                                         json={"override": bool(take["needs_override"])}, headers=headers)
                    live = ok.status == 200 and cache.plan(text)[0].source == "recording"
                    t2 = time.perf_counter()
                    rows.append({"prompt": name, "file": f"{path.parent.name}/{path.name}",
                                 "audio_s": round(take["report"]["seconds_in"], 2), "upload_s": round(t1 - t0, 3),
                                 "accept_s": round(t2 - t1, 3), "total_s": round(t2 - t0, 3), "live": live,
                                 "words_ok": take["report"]["words"]["ok"], "cer": take["report"]["words"]["cer"]})
                pacing["while_takes_are_processed"] = _pacing(list(host.stats.lateness_ms))
        finally:
            for line in lines:
                line.hang_up()
            await asyncio.gather(*running, return_exceptions=True)
            await server.close()
            await host.aclose()
    warm = rows[1:] or rows
    return {"takes": rows, "cold_total_s": rows[0]["total_s"],
            "warm_median_total_s": round(statistics.median(r["total_s"] for r in warm), 3),
            "warm_median_upload_s": round(statistics.median(r["upload_s"] for r in warm), 3),
            "warm_median_accept_s": round(statistics.median(r["accept_s"] for r in warm), 3),
            "all_live": all(r["live"] for r in rows), "calls": CALLS, "pacing": pacing}


def _pacing(lateness_ms: list[float]) -> dict[str, Any]:
    """Outgoing frames of the live calls: how many, the share more than 20 ms late (a phone's
    jitter buffer hides one frame; the calls benchmark allows 0.1 %), the 99th percentile."""
    ordered = sorted(lateness_ms)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0
    return {"frames": len(ordered), "late_20ms_share": round(sum(x > 20 for x in ordered) / max(1, len(ordered)), 5),
            "p99_ms": round(max(0.0, p99), 1), "max_ms": round(max(ordered, default=0.0), 1)}


def word_check(settings: Settings) -> dict[str, Any]:
    """How often the word check flags real takes that are right, and takes that are wrong."""
    from bot.asr.registry import make_asr
    from bot.studio.takes import RATE, process
    from bot.studio.wordcheck import PhoneTranscriber, compare

    items = _transcripts("vieneu") + _transcripts("vivos")
    transcriber = PhoneTranscriber(lambda: make_asr(settings.voice.asr_engine, settings.voice.asr_model_dir or None))
    heard: list[tuple[str, str, str]] = []
    started = time.perf_counter()
    try:
        for path, text in items:
            take = process(path.read_bytes(), settings.studio.loudness_lufs)
            heard.append((f"{path.parent.name}/{path.name}", text, transcriber.check(text, take.pcm, RATE).heard))
    finally:
        transcriber.close()
    seconds = time.perf_counter() - started
    n = len(heard)
    own = [compare(text, h) for _, text, h in heard]
    other = [compare(heard[(i + 7) % n][1], h) for i, (_, _, h) in enumerate(heard)]
    clause = [compare(f"{text} và nộp hồ sơ tại phường", h) for _, text, h in heard]
    number = [compare(f"{text} mức hai triệu đồng", f"{h} mức ba triệu đồng") for _, text, h in heard]
    return {"n": n, "seconds": round(seconds, 1),
            "own_text_flagged": sum(not c.ok for c in own),
            "own_text_flagged_files": [name for (name, _, _), c in zip(heard, own) if not c.ok],
            "own_text_mean_cer": round(statistics.fmean(c.cer for c in own), 3),
            "other_text_flagged": sum(not c.ok for c in other),
            "skipped_clause_flagged": sum(not c.ok for c in clause),
            "wrong_number_flagged": sum(not c.ok for c in number)}


def run(settings: Settings) -> dict[str, Any]:
    if not SPEECH.is_dir():
        return {"skipped": f"no recordings in {SPEECH}"}
    return {"upload_to_live": asyncio.run(upload_to_live(settings)), "word_check": word_check(settings)}


def section(r: dict[str, Any]) -> str:
    lines = ["## Voice studio", ""]
    if "skipped" in r:
        return "\n".join(lines + [f"Not measured: {r['skipped']}.", ""])
    u, w = r["upload_to_live"], r["word_check"]
    lines += [
        "Upload to live: a real recording uploaded over HTTP to the studio of a running gateway, processed",
        "(decode, trim, loudness, word check through an 8 kHz µ-law line and vietasr), accepted, and played",
        "by the gateway's prompt cache for its text (the next sentence of any call). Fake call engines; the",
        "studio and its recogniser are real.",
        "",
        "| measure | seconds |",
        "|---|---|",
        f"| first take (loads the recogniser) | {u['cold_total_s']} |",
        f"| upload → live, median of the next {len(u['takes']) - 1} takes | {u['warm_median_total_s']} |",
        f"| of which upload + processing + word check | {u['warm_median_upload_s']} |",
        f"| of which accept (write the files, reload the live recordings) | {u['warm_median_accept_s']} |",
        "",
        f"{u['calls']} calls in progress on the same gateway (fake engines, the bot talking): their outgoing",
        "frames, without studio work and while the takes above were processed:",
        "",
        "| | frames | > 20 ms late | p99 lateness | max |",
        "|---|---|---|---|---|",
        *[f"| {k.replace('_', ' ')} | {v['frames']} | {v['late_20ms_share']:.2%} | {v['p99_ms']} ms | {v['max_ms']} ms |"
          for k, v in u["pacing"].items()],
        "",
        "| take | audio s | upload s | accept s | total s | words ok | CER | live |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {t['file']} → {t['prompt']} | {t['audio_s']} | {t['upload_s']} | {t['accept_s']} | {t['total_s']} | "
              f"{t['words_ok']} | {t['cer']} | {t['live']} |" for t in u["takes"]]
    lines += [
        "",
        f"Word check on {w['n']} real recordings (../shared/speech vieneu + vivos), each processed as a take",
        f"({w['seconds']} s in all):",
        "",
        "| case | flagged |",
        "|---|---|",
        (f"| the recording's own text (false alarms; mean CER {w['own_text_mean_cer']}) | "
         f"{w['own_text_flagged']} of {w['n']} |"),
        f"| another recording's text | {w['other_text_flagged']} of {w['n']} |",
        f"| the text has a clause the take skips (simulated in text) | {w['skipped_clause_flagged']} of {w['n']} |",
        f"| text and take differ in one number (simulated in text) | {w['wrong_number_flagged']} of {w['n']} |",
        "",
        "False alarms: " + (", ".join(w["own_text_flagged_files"]) or "none") +
        " (the editor hears them and may override).",
        "",
    ]
    return "\n".join(lines)
