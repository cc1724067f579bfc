"""`make bench`: run the benchmarks, save raw results, and write docs/benchmarks.md."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import inspect
import json
import os
import platform
import subprocess
from pathlib import Path

from bench import brain
from bot.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench/results"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB RAM, {platform.system()} {platform.release()}"


def _clarify(c: dict) -> str:
    return f"{c['clarify']} of {c['n']} ({c['clarify_needed']} / {c['clarify_offers_right']})"


def _callers_rows(r: dict) -> list[str]:
    """The blind callers' splits (data/eval/callers.yml, callers2.yml, callers3.yml)."""
    rows: list[str] = []
    c = r.get("callers")
    if c:
        extra = [k for k in ("dev2", "dev3") if k in c]
        cols = [c["test"], c["dev"]] + [c[k] for k in extra]

        def row(name: str, key: str, target: str, n: bool = False) -> str:
            return (f"| {name} | " + " | ".join(f"{x[key]:.1%}" + (f" (n={x['n']})" if n else "") for x in cols)
                    + f" | {target} |")
        rows += ["Callers' words (`data/eval/callers.yml`, written blind from the labels and the policy sources;",
                 "test sealed; dev2: `data/eval/callers2.yml`, a second blind writer, tuned on; dev3:",
                 "`data/eval/callers3.yml`, a third writer, long-winded and indirect: 87.5 % at its first look,",
                 "before any tuning), as written and without diacritics, then garbled:", "",
                 "| measure | test | dev" + "".join(f" | {k}" for k in extra) + " | target |",
                 "|---|---|---|" + "---|" * len(extra) + "---|",
                 row("right action", "right_action", "≥ 97 %", n=True),
                 row("wrong answer read out", "wrong_answer", "≤ 1 %"),
                 "| asked instead / put through instead | " + " | ".join(
                     f"{x['asked']:.1%} / {x['transferred']:.1%}" for x in cols) + " | |",
                 row("garbled: right action", "right_action_garbled", "≥ 93 %"),
                 row("garbled: wrong answer read out", "wrong_answer_garbled", "≤ 2 %"),
                 ""]
    return rows


def _benefits_rows(r: dict) -> list[str]:
    """Other benefits beside their COVID look-alikes (data/eval/benefits_dev.yml)."""
    b = r.get("benefits")
    if not b:
        return []
    other, alike = b["other_benefit"], b["covid_lookalike"]
    return ["Other benefits (`data/eval/benefits_dev.yml`, dev, a blind writer): questions about ordinary",
            "benefits the FAQ does not cover must not get a COVID entry; questions in the same words that one",
            "COVID entry answers must still get it (as written and without diacritics, then garbled):", "",
            "| measure | as written | garbled |", "|---|---|---|",
            f"| other benefits answered with a COVID entry (n={other['n']}) | {other['wrong_answer']:.1%} | "
            f"{other['wrong_answer_garbled']:.1%} |",
            f"| look-alikes answered with their entry (n={alike['n']}) | {alike['right_action']:.1%} | "
            f"{alike['right_action_garbled']:.1%} |",
            f"| look-alikes answered with another entry | {alike['wrong_answer']:.1%} | "
            f"{alike['wrong_answer_garbled']:.1%} |", ""]


def _overlap_rows(r: dict) -> list[str]:
    """How close each split is to the training examples."""
    if not r.get("overlap"):
        return []
    return ["Closeness to the training examples (per utterance, the largest character-4-gram Jaccard overlap "
            "with one training example, averaged): " + ", ".join(f"{k} {v}" for k, v in r["overlap"].items()) + ".", ""]


def brain_section(r: dict) -> str:
    t, d = r["test"], r["dev"]
    lines = [
        "## Brain (Rasa: n-gram classifier + rules + actions)",
        "",
        f"Model `{r['model']}`. Held-out split `data/eval/heldout.yml` (never trained on); every utterance",
        "is asked as written and with diacritics removed (n counts both), then garbled as a phone line and",
        "a recogniser garble it; each as the first turn of a new call.",
        "",
        "| measure | test | dev | target |",
        "|---|---|---|---|",
        f"| right action, overall | {t['right_action']:.1%} (n={t['n']}) | {d['right_action']:.1%} (n={d['n']}) | ≥ 95 % |",
        f"| right action, with diacritics | {t['right_action_diacritics']:.1%} | {d['right_action_diacritics']:.1%} | |",
        f"| right action, no diacritics | {t['right_action_no_diacritics']:.1%} | {d['right_action_no_diacritics']:.1%} | ≥ 90 % |",
        f"| FAQ questions right | {t['faq_right']:.1%} | {d['faq_right']:.1%} | |",
        f"| dialogue/routing right | {t['routing_right']:.1%} | {d['routing_right']:.1%} | |",
        f"| out-of-scope not answered | {t['out_of_scope_not_answered']:.1%} | {d['out_of_scope_not_answered']:.1%} | ≥ 90 % |",
        f"| **wrong answer read out** (an FAQ answer, not the one asked for) | {t['wrong_answer']:.1%} | {d['wrong_answer']:.1%} | ≤ 1 % |",
        f"| wrong, but asked instead (rephrase, safety question, either/or) | {t['asked']:.1%} | {d['asked']:.1%} | |",
        f"| wrong, but put through to a person instead | {t['transferred']:.1%} | {d['transferred']:.1%} | |",
        "| asked which of two entries (needed: the first guess was wrong / the right one was offered) | "
        + " | ".join(_clarify(x["clarify"]["written"]) for x in (t, d)) + " | |",
        "| garbled, asked which of two entries | " + " | ".join(_clarify(x["clarify"]["garbled"]) for x in (t, d)) + " | |",
        f"| garbled (bot/noise/channel.py: tones, northern merges, finals, a lost syllable): right action | "
        f"{t['right_action_garbled']:.1%} | {d['right_action_garbled']:.1%} | ≥ 93 % |",
        f"| garbled: wrong answer read out / asked / put through | {t['wrong_answer_garbled']:.1%} / "
        f"{t['asked_garbled']:.1%} / {t['transferred_garbled']:.1%} | {d['wrong_answer_garbled']:.1%} / "
        f"{d['asked_garbled']:.1%} / {d['transferred_garbled']:.1%} | ≤ 2 % wrong |",
        "",
        "| cost | value |",
        "|---|---|",
        f"| parse latency per turn, BrainClient → brain channel → actions (n={r['latency_ms']['n']}) | "
        f"p50 {r['latency_ms']['p50']} ms, p95 {r['latency_ms']['p95']} ms, max {r['latency_ms']['max']} ms |",
        f"| training time from scratch, validate excluded (`rasa train` with an empty component cache) | "
        f"{r.get('training_s', 'not measured')} s |",
        f"| cold start (both servers until the model answers) | {r['cold_start_s']} s |",
        f"| model swap on a running server, 3 times (`bot train` → /webhooks/brain/model) | {r['model_swap_s']} s |",
        f"| RSS: Rasa server / after 3 swaps / action server | {r['rss_mb']['rasa_server']} / "
        f"{r['rss_mb']['rasa_server_after_3_swaps']} / {r['rss_mb']['action_server']} MB |",
        "",
        *_callers_rows(r),
        *_benefits_rows(r),
        *_overlap_rows(r),
        f"Thresholds that maximise dev accuracy (grid search, raw NLU): {r['thresholds_on_dev']}.",
        "",
        # Dev mistakes only: printing the test split's mistakes would invite writing training data
        # against them, and the test split would stop measuring anything.
        "Wrong dev answers (first 25; the test split's mistakes stay in bench/results/brain.json):",
        "",
        "| label | variant | text | got |",
        "|---|---|---|---|",
    ]
    for e in d["errors"][:25]:
        got = e["got"]
        lines.append(f"| {e['label']} | {e['variant']} | {e['text']} | {got['action']} {got['intent']} "
                     f"{got['faq_id'] or ''} {got['branch'] or ''} |")
    return "\n".join(lines) + "\n"


SECTIONS = ("brain", "danger", "calls", "turns", "asr", "sip", "voice", "studio", "records", "media", "faults")


def run_section(name: str, settings, args) -> tuple[dict, str]:
    """Run one section: `bench/<name>.py` has `run(settings)` (plain or async) and `section(result)`.
    The brain (training optional, its section written here) and asr (no settings) differ."""
    if name == "brain":
        result = asyncio.run(brain.run(settings, train=not args.no_train))
        return result, brain_section(result)
    module = importlib.import_module(f"bench.{name}")
    if name == "asr":
        result = module.run()
    else:
        result = module.run(settings)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
    return result, module.section(result)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-train", action="store_true", help="skip the training-time measurement")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections ({', '.join(SECTIONS)})")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    settings = load_settings()
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    meta = {"date": stamp, "machine": machine(), "commit": commit}
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        print(f"== {name}", flush=True)
        result, text = run_section(name, settings, args)
        result["meta"] = meta
        (RESULTS / f"{name}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        (RESULTS / f"{name}.md").write_text(text, encoding="utf-8")
    print(write_document())


def write_document() -> str:
    """docs/benchmarks.md from every section's latest result (bench/results/<name>.md), each with
    its own date. Callable on its own: after a section's text is rendered again from its saved JSON,
    the document follows without measuring anything anew."""
    parts = ["# Benchmarks", "", "Written by `make bench` (`bench/run.py`); raw results in `bench/results/*.json`.",
             "Each section names when and where it was measured.", ""]
    for name in SECTIONS:
        md, js = RESULTS / f"{name}.md", RESULTS / f"{name}.json"
        if md.exists():
            m = json.loads(js.read_text(encoding="utf-8")).get("meta", {})
            parts += [md.read_text(encoding="utf-8"),
                      f"_Measured {m.get('date')} on {m.get('machine')}, commit {m.get('commit') or 'uncommitted'}._", ""]
    text = "\n".join(parts)
    (ROOT / "docs/benchmarks.md").write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    main()
