"""`bot`: the command line of branch 7 (run, validate, build, train, overlap, ask, chat, serve, call, ...)."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import uuid
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from bot.content.load import load_knowledge_base
from bot.content.model import KnowledgeBase, Problem


def _print_problems(problems: list[Problem], show_warnings: bool) -> None:
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    for p in errors + (warnings if show_warnings else []):
        print(p, file=sys.stderr)
    if warnings and not show_warnings:
        print(f"({len(warnings)} warnings; see them with `bot validate --warnings`)", file=sys.stderr)


def _knowledge_base(settings: Settings) -> KnowledgeBase:
    kb, problems = load_knowledge_base(settings.path(settings.content.dir))
    if kb is None:
        _print_problems(problems, show_warnings=False)
        raise SystemExit("the content in data/faq/ has errors; fix them (bot validate)")
    return kb


def cmd_validate(settings: Settings, args: argparse.Namespace) -> int:
    kb, problems = load_knowledge_base(settings.path(settings.content.dir))
    _print_problems(problems, args.warnings)
    if kb is None:
        errors = sum(p.severity == "error" for p in problems)
        print(f"INVALID: {errors} error(s). Nothing was changed; the running bot keeps its model.", file=sys.stderr)
        return 1
    unverified = sum(not f.verified for f in kb.faqs)
    print(f"OK: {len(kb.faqs)} FAQ entries ({unverified} unverified: they transfer to branch 5), "
          f"{len(kb.intents)} intents, {len(kb.prompts)} prompts, {len(kb.concepts)} concept(s).")
    from bot.tts.recordings import recording_warnings

    # Recordings never block: a stale one is simply not played (the synthetic voice says it).
    for line in recording_warnings(kb, settings.path(settings.voice.recordings_dir)):
        print(f"warning: {line}", file=sys.stderr)
    return 0


def cmd_build(settings: Settings, args: argparse.Namespace) -> int:
    from bot.content.build import write_rasa_files

    for path in write_rasa_files(_knowledge_base(settings), settings.root):
        print(f"wrote {path.relative_to(settings.root)}")
    return 0


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    from bot.brain.train import TrainError, train

    print("Validating, building and training (about a minute)…", file=sys.stderr)
    try:
        result = asyncio.run(train(settings))
    except TrainError as exc:
        print(f"FAILED: {exc}. The previous model stays in service.", file=sys.stderr)
        return 1
    _print_problems(result.problems, show_warnings=False)
    if not result.ok:
        print("INVALID content: nothing was trained; the running bot keeps its model.", file=sys.stderr)
        return 1
    live = "the running bot now uses it" if result.reloaded else "it will be used at the next start"
    print(f"Trained {result.model.name} in {result.seconds:.0f} s; {live}.")
    return 0


def cmd_overlap(settings: Settings, args: argparse.Namespace) -> int:
    """Cross-validate the brain's model on the editors' examples (actions/nlu/ngram_overlap.py)."""
    import subprocess

    from bot.brain.servers import rasa_bin, rasa_env

    # The module validates the content itself and reports problems as `bot validate` does.
    command = [str(rasa_bin(settings, "python")), "-m", "actions.nlu.ngram_overlap",
               "--content", str(settings.path(settings.content.dir)),
               "--folds", str(args.folds)] + (["--json"] if args.json else [])
    return subprocess.run(command, cwd=settings.root, env=rasa_env(settings)).returncode


async def _ask_lines(settings: Settings, lines: list[str], same_conversation: bool, out) -> None:
    from bot.brain.client import BrainClient
    from bot.brain.servers import running_brain

    kb = _knowledge_base(settings)
    async with running_brain(settings) as brain:
        async with BrainClient(brain.url, brain.token, kb, settings.dialogue.human_branch,
                               settings.rasa.timeout_s) as client:
            conversation = f"cli-{uuid.uuid4().hex[:12]}"
            for line in lines:
                sender = conversation if same_conversation else f"cli-{uuid.uuid4().hex[:12]}"
                reply = await client.turn(sender, line)
                out(reply)


def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    if args.jsonl:
        lines = [line.rstrip("\n") for line in sys.stdin]

        def out(reply) -> None:
            print(json.dumps(reply.record(), ensure_ascii=False), flush=True)
    else:
        if not args.text:
            print("usage: bot ask \"câu hỏi\"  or  bot ask --jsonl < questions.txt", file=sys.stderr)
            return 2
        lines = [" ".join(args.text)]

        def out(reply) -> None:
            print(reply.reply)
            where = f" -> nhánh {reply.branch}" if reply.action == "transfer" else ""
            print(f"[{reply.action}{where}; intent {reply.intent} {reply.confidence:.2f}"
                  f"{'; faq ' + reply.faq_id if reply.faq_id else ''}]", file=sys.stderr)
    asyncio.run(_ask_lines(settings, lines, args.conversation, out))
    return 0


async def _chat(settings: Settings) -> None:
    from bot.brain.client import BrainClient
    from bot.brain.servers import running_brain

    kb = _knowledge_base(settings)
    print("Starting the bot (Rasa + actions)…", file=sys.stderr)
    async with running_brain(settings) as brain:
        async with BrainClient(brain.url, brain.token, kb, settings.dialogue.human_branch,
                               settings.rasa.timeout_s) as client:
            print(f"bot> {kb.prompt('greeting')}")
            print("(gõ câu hỏi; Ctrl-D để kết thúc)", file=sys.stderr)
            sender = f"chat-{uuid.uuid4().hex[:12]}"
            loop = asyncio.get_running_loop()
            while True:
                line = await loop.run_in_executor(None, _read_line)
                if line is None:
                    break
                reply = await client.turn(sender, line)
                print(f"bot> {reply.reply}")
                extra = f" -> nhánh {reply.branch}" if reply.branch else ""
                print(f"     [{reply.action}{extra}; {reply.intent} {reply.confidence:.2f}"
                      f"{'; ' + reply.faq_id if reply.faq_id else ''}]", file=sys.stderr)
                if reply.action in ("transfer", "end"):
                    print("(cuộc hội thoại kết thúc; bắt đầu cuộc mới)", file=sys.stderr)
                    sender = f"chat-{uuid.uuid4().hex[:12]}"


def _read_line() -> str | None:
    try:
        return input("you> ")
    except EOFError:
        return None


def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    try:
        asyncio.run(_chat(settings))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from bot.brain.servers import start_brain, stop_brain

    async def serve() -> None:
        brain = await start_brain(settings)
        print(f"Rasa: {brain.url} (brain channel /webhooks/brain/webhook); "
              f"actions: http://{settings.rasa.actions_host}:{settings.rasa.actions_port}. Ctrl-C stops.")
        try:
            await asyncio.Event().wait()
        finally:
            await stop_brain(brain)

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description="Tổng đài 1022, nhánh 7")
    parser.add_argument("--settings", type=Path, help="settings file (default: settings.yml)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check the editors' YAML in data/faq/")
    p.add_argument("--warnings", action="store_true", help="also list warnings")
    p.set_defaults(func=cmd_validate)
    sub.add_parser("build", help="write Rasa's files from data/faq/").set_defaults(func=cmd_build)
    sub.add_parser("train", help="validate, build, train; a running bot swaps to the new model").set_defaults(func=cmd_train)
    p = sub.add_parser("overlap", help="which FAQ entries and intents the bot confuses, with the examples")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--json", action="store_true", help="every confusion as one JSON object per line")
    p.set_defaults(func=cmd_overlap)
    p = sub.add_parser("ask", help="ask the bot (one question, or --jsonl on stdin)")
    p.add_argument("text", nargs="*")
    p.add_argument("--jsonl", action="store_true", help="one utterance per stdin line -> one JSON object per line")
    p.add_argument("--conversation", action="store_true", help="treat the lines as one conversation")
    p.set_defaults(func=cmd_ask)
    sub.add_parser("chat", help="a typed conversation with the bot").set_defaults(func=cmd_chat)
    sub.add_parser("serve", help="run Rasa and the action server until Ctrl-C").set_defaults(func=cmd_serve)
    from bot import cli_call, cli_noise, cli_prompts, cli_report, cli_run, cli_studio, cli_transcribe

    cli_run.add_parser(sub)
    from bot import cluster

    cluster.add_parser(sub)
    cli_studio.add_parser(sub)
    cli_prompts.add_parser(sub)
    cli_call.add_parser(sub)
    cli_transcribe.add_parser(sub)
    cli_report.add_parser(sub)
    cli_noise.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.settings)
    except ConfigError as exc:
        print(f"settings: {exc}", file=sys.stderr)
        return 2
    try:
        return args.func(settings, args)
    except Exception as exc:  # noqa: BLE001 - one clear line instead of a traceback for users
        from bot.brain.servers import BrainStartError
        from bot.gateway.runtime import GatewayError

        if isinstance(exc, (BrainStartError, GatewayError)):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
