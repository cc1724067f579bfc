"""Safety-net benchmark: people in danger routed (recall), ordinary callers sent to 115 (false
alarms), on the blind danger splits as written and through the noise channel (bot/noise/channel.py).

Two levels: the danger net alone (bot/danger/match.py, the editors' phrases), and the whole
brain (`brain_outcomes`: what a caller's sentence gets from the running Rasa brain, where the
net runs first and the classifier's emergency and routing intents stand behind it).
The dev splits (data/eval/danger_dev3.yml to dev15) are for tuning phrases; the test splits
(danger_test2.yml from session 13, danger_test3.yml from 14, danger_test4.yml from 16) are only measured, and their misses
are never printed. dev12 is the first sealed test (danger_test.yml, sessions 4-13), retired to dev
in session 14 after its last blind figures (98.4 % caught, 97.3 % garbled). Ordinary short turns (danger_turns.yml) count what is taken for danger in what
slow callers say between pauses. The first two writers'
splits (dev, dev2) became training material on 2026-12-07 (danger.yml examples and not_danger,
the routing and out-of-scope intents' examples): their sentences are in git history.
"""
from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import yaml

from bot.noise import garbled_copy
from bot.content.load import load_knowledge_base
from bot.danger.match import DangerMatcher

ROOT = Path(__file__).resolve().parent.parent
# dev3 to dev14: blind writers' splits, for tuning (their mistakes are printed); test2, test3: sealed.
SPLITS = {"dev3": ROOT / "data/eval/danger_dev3.yml", "dev4": ROOT / "data/eval/danger_dev4.yml",
          "dev5": ROOT / "data/eval/danger_dev5.yml", "dev6": ROOT / "data/eval/danger_dev6.yml",
          "dev7": ROOT / "data/eval/danger_dev7.yml", "dev8": ROOT / "data/eval/danger_dev8.yml",
          "dev9": ROOT / "data/eval/danger_dev9.yml", "dev10": ROOT / "data/eval/danger_dev10.yml",
          "dev11": ROOT / "data/eval/danger_dev11.yml", "dev12": ROOT / "data/eval/danger_dev12.yml",
          "dev13": ROOT / "data/eval/danger_dev13.yml", "dev14": ROOT / "data/eval/danger_dev14.yml",
          "dev15": ROOT / "data/eval/danger_dev15.yml",
          "test2": ROOT / "data/eval/danger_test2.yml", "test3": ROOT / "data/eval/danger_test3.yml",
          "test4": ROOT / "data/eval/danger_test4.yml"}
# Sealed splits: measured only, their mistakes never printed (multi_test since session 12, test2
# and the short turns' test half since 13, test3 since 14, test4 since 16; the first test, sessions 4-13,
# is dev12).
SEALED = {"test2", "test3", "test4", "multi_test"}
TURNS_SEALED_HALF = "test"
# Stories told in pieces (2-4 turns, a slow caller's pauses), by blind writers: dev, dev2 (session
# 14, mostly ordinary callers telling the past) for tuning, test sealed. Each conversation is one call; see run_multi.
MULTI_SPLITS = {"multi_dev": ROOT / "data/eval/danger_multi_dev.yml",
                "multi_dev2": ROOT / "data/eval/danger_multi_dev2.yml",
                "multi_test": ROOT / "data/eval/danger_multi_test.yml"}
# The ordinary short turns of slow callers cut at a pause (one blind writer; dev half for tuning,
# test half sealed): none is danger, so every transfer to 115 is a false alarm.
TURNS_SPLIT = ROOT / "data/eval/danger_turns.yml"
ORDINARY = ("safe", "routing", "other_benefit")
BRAIN_PORT = 5425
# FAQ entries whose subject is a benefit in its own right, not COVID support: an answer from one
# of them to a question about that benefit (the writers' `note`) is not "a COVID entry".
# cdhd_tro_cap_that_nghiep tells where and when to file for unemployment benefit.
BENEFIT_ENTRIES = {"cdhd_tro_cap_that_nghiep": "unemployment"}


def load_split(path: Path) -> dict[str, list[dict]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {key: list(data.get(key) or []) for key in ("danger", *ORDINARY)}


def _texts(items: list[dict], garbled: bool, seed: int) -> list[str]:
    texts = [str(i["text"]) for i in items]
    return garbled_copy(texts, seed) if garbled else texts


def score(split: dict[str, list[dict]], kind_of: Callable[[str], str | None], *, garbled: bool,
          show_misses: bool) -> dict:
    """`kind_of(text)`: the kind of danger the system saw (any string), or None."""
    danger = split["danger"]
    texts = _texts(danger, garbled, seed=11)
    seen = [kind_of(t) for t in texts]
    per_kind: dict[str, Counter] = {}
    for item, kind in zip(danger, seen):
        c = per_kind.setdefault(item["kind"], Counter())
        c["n"] += 1
        c["routed"] += kind is not None
        c["right_kind"] += kind == item["kind"]
    n = len(danger)
    result: dict = {
        "n_danger": n,
        "routed": sum(k is not None for k in seen) / n if n else 0.0,
        "right_kind": sum(k == i["kind"] for k, i in zip(seen, danger)) / n if n else 0.0,
        "per_kind": {k: {"n": c["n"], "routed": c["routed"] / c["n"], "right_kind": c["right_kind"] / c["n"]}
                     for k, c in sorted(per_kind.items())},
        "false_alarms": {},
    }
    if show_misses:
        result["missed"] = [t for t, k in zip(texts, seen) if k is None]
    for section in ORDINARY:
        items = split[section]
        alarms = [(t, k) for t in _texts(items, garbled, seed=13) if (k := kind_of(t)) is not None]
        result["false_alarms"][section] = {"n": len(items), "alarms": len(alarms),
                                           "rate": len(alarms) / len(items) if items else 0.0}
        if show_misses:
            result["false_alarms"][section]["examples"] = [f"{k}: {t}" for t, k in alarms]
    return result


def net_kind_of() -> Callable[[str], str | None]:
    kb, problems = load_knowledge_base(ROOT / "data/faq")
    if kb is None or kb.danger is None:
        raise SystemExit("\n".join(str(p) for p in problems))
    matcher = DangerMatcher(kb.danger)

    def kind_of(text: str) -> str | None:
        found = matcher.find(text)
        return found.kind.id if found else None
    return kind_of


def run_net() -> dict:
    kind_of = net_kind_of()
    out = {}
    for name, path in SPLITS.items():
        if not path.exists():
            continue
        split = load_split(path)
        out[name] = {"clean": score(split, kind_of, garbled=False, show_misses=name not in SEALED),
                     "garbled": score(split, kind_of, garbled=True, show_misses=name not in SEALED)}
    return out


def brain_outcome(reply, section: str, item: dict) -> str:
    """What one sentence got from the whole brain, as the benchmark counts it. `asked`: the
    safety net's question (danger suspected, not sure); the caller's "có" then puts them through."""
    danger = reply.reason.startswith("danger:")
    asked = reply.reason.startswith("danger_check:")
    if section == "danger":
        return "routed" if danger else "asked" if asked else ("person" if reply.action == "transfer" else "missed")
    if danger:
        return "false_alarm"
    if asked:
        return "asked"
    if section == "routing":
        return "right_branch" if reply.action == "transfer" and reply.branch == item["branch"] else "other"
    if section == "other_benefit":
        subject = BENEFIT_ENTRIES.get(reply.faq_id or "")
        if reply.action == "answer" and subject and subject in str(item.get("note", "")):
            return "benefit_entry"
        return "covid_answer" if reply.action == "answer" else "not_answered"
    return "ordinary"


async def run_brain(settings) -> dict:
    """Every split sentence as the first turn of a new call to the running brain (bench port)."""
    from bot.brain.client import BrainClient
    from bot.brain.servers import start_brain, stop_brain

    kb, _ = load_knowledge_base(settings.path(settings.content.dir))
    s = settings.replace(rasa={"port": BRAIN_PORT, "actions_port": BRAIN_PORT + 50})
    brain = await start_brain(s)
    out: dict = {}
    try:
        async with BrainClient(brain.url, brain.token, kb, s.dialogue.human_branch, 10.0) as client:
            for name, path in SPLITS.items():
                if not path.exists():
                    continue
                split = load_split(path)
                for garbled in (False, True):
                    counts: dict[str, Counter] = {}
                    misses: list[str] = []
                    for section in ("danger", *ORDINARY):
                        items = split[section]
                        texts = _texts(items, garbled, seed=11 if section == "danger" else 13)
                        c = counts.setdefault(section, Counter())
                        for item, text in zip(items, texts):
                            conversation = f"bench-{uuid.uuid4().hex[:10]}"
                            reply = await client.turn(conversation, text)
                            outcome = brain_outcome(reply, section, item)
                            c[outcome] += 1
                            c["n"] += 1
                            if outcome == "asked" and section == "danger":
                                # The caller answers the question: "có" must put them through.
                                yes = await client.turn(conversation, "có")
                                c["through_after_yes"] += yes.reason.startswith("danger:")
                            elif outcome == "asked":
                                # An ordinary caller answers "không": the call carries on with what
                                # their sentence would have got (a branch, an answer, a question).
                                no = await client.turn(conversation, "không")
                                c["after_no_" + brain_outcome(no, section, item)] += 1
                            if name not in SEALED and outcome in ("missed", "person", "false_alarm", "covid_answer", "asked"):
                                misses.append(f"{section}/{outcome}: {text} -> {reply.action} {reply.intent} "
                                              f"{reply.faq_id or ''} {reply.branch or ''}")
                    out.setdefault(name, {})["garbled" if garbled else "clean"] = {
                        "danger_routed": counts["danger"]["routed"] / counts["danger"]["n"],
                        "danger_asked": counts["danger"]["asked"] / counts["danger"]["n"],
                        "danger_through_after_yes": counts["danger"]["through_after_yes"],
                        "ordinary_asked": {sec: {"n": counts[sec]["n"], "asked": counts[sec]["asked"]}
                                           for sec in ORDINARY},
                        "danger_to_a_person": counts["danger"]["person"] / counts["danger"]["n"],
                        "danger_missed": counts["danger"]["missed"] / counts["danger"]["n"],
                        "false_alarms": {sec: {"n": counts[sec]["n"], "alarms": counts[sec]["false_alarm"]}
                                         for sec in ORDINARY},
                        "routing_right_branch": counts["routing"]["right_branch"] / counts["routing"]["n"],
                        # ... counting the callers asked first who answered "không" and then got it
                        "routing_right_branch_after_question":
                            (counts["routing"]["right_branch"] + counts["routing"]["after_no_right_branch"])
                            / counts["routing"]["n"],
                        "other_benefit_answered_with_benefit_entry":
                            (counts["other_benefit"]["benefit_entry"] + counts["other_benefit"]["after_no_benefit_entry"])
                            / counts["other_benefit"]["n"],
                        "other_benefit_answered_with_covid_entry":
                            (counts["other_benefit"]["covid_answer"] + counts["other_benefit"]["after_no_covid_answer"])
                            / counts["other_benefit"]["n"],
                        **({"mistakes": misses} if name not in SEALED else {}),
                    }
            for name, path in MULTI_SPLITS.items():
                if path.exists():
                    split = yaml.safe_load(path.read_text(encoding="utf-8"))
                    out[name] = {"garbled" if garbled else "clean": await run_multi(client, split, garbled,
                                                                                   sealed=name in SEALED)
                                 for garbled in (False, True)}
            if TURNS_SPLIT.exists():
                out["turns"] = await run_turns(client, yaml.safe_load(TURNS_SPLIT.read_text(encoding="utf-8")))
            # Everyday Vietnamese nobody would call danger: the transcripts of the real recordings.
            everyday = _everyday_sentences()
            if everyday:
                alarms = []
                for text in everyday:
                    reply = await client.turn(f"bench-{uuid.uuid4().hex[:10]}", text)
                    if _danger_reply(reply) != "ok":
                        alarms.append(f"{reply.reason}: {text}")
                through = [a for a in alarms if a.startswith("danger:")]
                out["everyday"] = {"n": len(everyday), "alarms": len(through), "asked": len(alarms) - len(through),
                                   "examples": through}
    finally:
        await stop_brain(brain)
    return out


async def run_multi(client, split: dict, garbled: bool, *, sealed: bool) -> dict:
    """Each conversation as one call, turn by turn, until the bot puts the caller through or asks
    (then the caller answers: "có" in danger, "không" otherwise, and an ordinary caller goes on).
    Caught: put through or asked at any turn; at which turn tells what judging the pieces
    together is worth (a story is clear only at its last piece)."""
    out: dict = {}
    for section in ("danger", "safe"):
        items = list(split.get(section) or [])
        flat = [str(t) for item in items for t in item["turns"]]
        flat = garbled_copy(flat, 17) if garbled else flat
        c: Counter = Counter()
        misses: list[str] = []
        for item in items:
            turns, flat = flat[:len(item["turns"])], flat[len(item["turns"]):]
            outcome, at, through = await _play_story(client, turns, in_danger=section == "danger")
            c["n"] += 1
            c[outcome] += 1
            c["through_after_yes"] += through
            if outcome in ("routed", "asked") and section == "danger":
                c["at_last_turn"] += at == len(turns)
            if not sealed and outcome in ("missed", "person", "false_alarm", "asked"):
                misses.append(f"{section}/{outcome}: " + " | ".join(turns))
        out[section] = {**c, **({"mistakes": misses} if not sealed else {})}
    return out


async def _play_story(client, turns: list[str], *, in_danger: bool) -> tuple[str, int, bool]:
    """(outcome, the turn it came at, put through after answering "có") for one story, one call.
    An ordinary caller asked the safety question answers "không" and goes on with the story."""
    conversation = f"bench-{uuid.uuid4().hex[:10]}"
    outcome = "missed" if in_danger else "ordinary"
    for at, text in enumerate(turns, 1):
        reply = await client.turn(conversation, text)
        if reply.reason.startswith("danger:"):
            return ("routed" if in_danger else "false_alarm"), at, False
        if reply.reason.startswith("danger_check:"):
            answer = await client.turn(conversation, "có" if in_danger else "không")
            if in_danger:
                return "asked", at, answer.reason.startswith("danger:")
            outcome = "asked"
        elif in_danger and reply.action == "transfer":
            return "person", at, False
    return outcome, len(turns), False


def _danger_reply(reply) -> str:
    """What a first turn's reply did about danger: "through" (to 115), "asked" or "ok"."""
    if reply.reason.startswith("danger:"):
        return "through"
    return "asked" if reply.reason.startswith("danger_check:") else "ok"


async def run_turns(client, split: dict) -> dict:
    """Each ordinary turn as the first turn of a call, as written and garbled: how many are put
    through to 115 or asked about danger (per half; per type and the mistakes on dev only)."""
    out: dict = {}
    for half, items in split.items():
        for garbled in (False, True):
            texts = _texts(items, garbled, seed=17)
            c: Counter = Counter()
            by_type: dict[str, Counter] = {}
            mistakes: list[str] = []
            for item, text in zip(items, texts):
                reply = await client.turn(f"bench-{uuid.uuid4().hex[:10]}", text)
                outcome = _danger_reply(reply)
                c[outcome] += 1
                by_type.setdefault(item["type"], Counter())[outcome] += 1
                if outcome != "ok" and half != TURNS_SEALED_HALF:
                    mistakes.append(f"{outcome}: {text} -> {reply.reason}")
            out.setdefault(half, {})["garbled" if garbled else "clean"] = {
                "n": len(items), "through": c["through"], "asked": c["asked"],
                **({"by_type": {t: dict(v) for t, v in sorted(by_type.items())}, "mistakes": mistakes}
                   if half != TURNS_SEALED_HALF else {})}
    return out


def _everyday_sentences() -> list[str]:
    """The transcripts of ../shared/speech (news, read sentences, spoken commands); [] if absent."""
    texts: list[str] = []
    for tsv in sorted((ROOT.parent / "shared/speech").glob("*/transcripts.tsv")):
        for line in tsv.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) == 2 and parts[1].strip():
                texts.append(parts[1].strip())
    return list(dict.fromkeys(texts))


def run(settings) -> dict:
    import asyncio
    return {"net": run_net(), "brain": asyncio.run(run_brain(settings))}


def _pct(x: float) -> str:
    return f"{x:.1%}"


def section(r: dict) -> str:
    lines = ["## Safety net (people in danger routed before any answer)", "",
             "Blind splits in callers' words, each by a writer who saw no phrase list or training example:",
             "`data/eval/danger_dev3.yml`, `danger_dev4.yml` (elderly northern callers), `danger_dev5.yml`",
             "(younger callers, typed slang), `danger_dev6.yml` (callers on behalf of others, fragments) and",
             "`danger_dev7.yml` (long-winded callers, the danger inside a long turn), `danger_dev8.yml`",
             "(indirect: the situation told without the obvious word), `danger_dev9.yml` (short turns, 3-12 words),",
             "`danger_dev10.yml` (breadth: gas, drowning, bites, dementia, people held, children left in cars),",
             "`danger_dev11.yml` (hard cases: no obvious word), `danger_dev12.yml` (the first sealed test,",
             "sessions 4-13, retired to dev in session 14), `danger_dev13.yml` (panicked callers on behalf of",
             "others, rural dialect, help asked for without naming the danger), `danger_dev14.yml` (callers who",
             "cannot speak freely, danger about to happen, strangers in public places) and `danger_dev15.yml` (callers",
             "who play the danger down: \"chắc không sao đâu, nhưng...\") for tuning (phrases and thresholds were tuned on them,",
             "so their figures are optimistic; dev4 to dev11 and dev13 to dev15 were first measured before any tuning on them, see",
             "docs/safety.md), and `data/eval/danger_test2.yml`, `danger_test3.yml`, `danger_test4.yml` (sealed: only",
             "measured; test2 from session 13, a plain mix as a new tester would write; test3 from session 14, rambling",
             "elderly callers; test4 from session 16, another writer's plain mix). The first two writers' splits are now",
             "training material. Garbled:",
             "the same sentences through the noise channel (bot/noise/channel.py: tones, northern consonant",
             "merges, finals, a lost syllable, diacritics dropped).", "",
             "Whole brain (the danger net's phrases, then its model, then the FAQ classifier):", "",
             "Put through: the danger message and the transfer at once. Asked: only the model suspects",
             "danger, below its transfer threshold, so the bot asks first (danger.yml `check_question`);",
             "the benchmark then answers \"có\" and counts the transfers that follow. Caught = both.",
             "",
             "Symptoms and testing: the share that reaches branch 3 or 2 at once, then counting the callers",
             "asked first who answer \"không\" and are then put through to the branch (one question more).",
             "Other benefits answered with a COVID entry: at once or after that \"không\"; an unemployment",
             "benefit question answered by the FAQ's entry on filing for unemployment benefit is not counted",
             "(in brackets: how many were).",
             "",
             "| split | people in danger caught | put through at once | asked first (then put through on \"có\") | to a person instead | missed | ordinary callers put through to 115 (ordinary / routing / other benefits) | ordinary callers asked | symptoms & testing to branch 3 / 2 (at once / after the question) | other benefits answered with a COVID entry |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, modes in r["brain"].items():
        if name in ("everyday", "turns") or name in MULTI_SPLITS:
            continue
        for mode, v in modes.items():
            fa, asked = v["false_alarms"], v["ordinary_asked"]
            lines.append(f"| {name}, {mode} | {_pct(v['danger_routed'] + v['danger_asked'])} | {_pct(v['danger_routed'])} "
                         f"| {_pct(v['danger_asked'])} ({v['danger_through_after_yes']}) "
                         f"| {_pct(v['danger_to_a_person'])} | {_pct(v['danger_missed'])} | "
                         + " / ".join(f"{f['alarms']} of {f['n']}" for f in fa.values()) + " | "
                         + " / ".join(f"{a['asked']} of {a['n']}" for a in asked.values())
                         + f" | {_pct(v['routing_right_branch'])} / {_pct(v['routing_right_branch_after_question'])} "
                         f"| {_pct(v['other_benefit_answered_with_covid_entry'])} "
                         f"({_pct(v.get('other_benefit_answered_with_benefit_entry', 0.0))}) |")
    multi = {name: modes for name, modes in r["brain"].items() if name in MULTI_SPLITS}
    if multi:
        lines += ["", "Stories told in pieces (`data/eval/danger_multi_dev.yml`, `danger_multi_dev2.yml`, `danger_multi_test.yml`: 2-4 turns",
                  "each, a slow caller's pauses; in two thirds of the stories no piece alone is danger). Each",
                  "story is one call, turn by turn; the bot judges each turn on its own (judging a turn together",
                  "with the unanswered one before it caught no one more here, docs/safety.md). Ordinary stories",
                  "count once, at the first turn put through or asked; \"to a person instead\": an early piece",
                  "was routed to a branch before the danger was told.", "",
                  "| split | people in danger caught | put through | asked first (then put through on \"có\") | "
                  "caught at the last piece | to a person instead | ordinary stories put through to 115 | ordinary asked |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, modes in multi.items():
            for mode, v in modes.items():
                d, o = v["danger"], v["safe"]
                n = max(d.get("n", 0), 1)
                lines.append(f"| {name}, {mode} | {_pct((d.get('routed', 0) + d.get('asked', 0)) / n)} "
                             f"| {_pct(d.get('routed', 0) / n)} | {_pct(d.get('asked', 0) / n)} ({d.get('through_after_yes', 0)}) "
                             f"| {d.get('at_last_turn', 0)} | {d.get('person', 0)} "
                             f"| {o.get('false_alarm', 0)} of {o.get('n', 0)} | {o.get('asked', 0)} of {o.get('n', 0)} |")
    turns = r["brain"].get("turns")
    if turns:
        lines += ["", "Ordinary short turns (`data/eval/danger_turns.yml`: what slow callers say between pauses,",
                  "1-10 words, none of it danger; each as the first turn of a call):", "",
                  "| half | put through to 115 | asked about danger |", "|---|---|---|"]
        for half, modes in turns.items():
            for mode, v in modes.items():
                lines.append(f"| {half}, {mode} | {v['through']} of {v['n']} | {v['asked']} of {v['n']} |")
        dev_turns = turns.get("dev", {}).get("clean", {})
        if dev_turns.get("mistakes"):
            lines += ["", "Dev turns taken for danger (clean):", ""] + [f"- {m}" for m in dev_turns["mistakes"][:20]]
    everyday = r["brain"].get("everyday")
    if everyday:
        lines += ["", f"Everyday sentences (the {everyday['n']} distinct transcripts of ../shared/speech: news, read "
                  f"sentences, spoken commands) put through as danger: {everyday['alarms']}; asked about: "
                  f"{everyday.get('asked', 0)}."]
        lines += [f"- {e}" for e in everyday["examples"][:10]]
    lines += ["", "The editors' phrases alone (bot/danger/match.py, no model):", "",
              "| split | routed | right kind | false alarms (ordinary / routing / other benefits) |", "|---|---|---|---|"]
    for name, modes in r["net"].items():
        for mode, v in modes.items():
            fa = v["false_alarms"]
            lines.append(f"| {name}, {mode} | {_pct(v['routed'])} | {_pct(v['right_kind'])} | "
                         + " / ".join(f"{f['alarms']} of {f['n']}" for f in fa.values()) + " |")
    dev = r["brain"].get("dev5", {}).get("clean", {})
    if dev.get("mistakes"):
        # Dev only: the test split's mistakes are never printed, so nobody writes phrases against them.
        lines += ["", "Dev mistakes (clean; the test split's stay unprinted):", ""]
        lines += [f"- {m}" for m in dev["mistakes"][:30]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import json
    import sys
    result = run_net()
    if "--all" not in sys.argv:
        for split in result.values():
            for v in split.values():
                v.pop("missed", None)
                for fa in v["false_alarms"].values():
                    fa.pop("examples", None)
    print(json.dumps(result, ensure_ascii=False, indent=1))
