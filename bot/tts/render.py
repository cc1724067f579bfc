"""Render everything the bot can say into the prompt cache, with a progress bar."""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import TextIO

from bot.content.model import KnowledgeBase
from bot.tts.base import TtsEngine
from bot.tts.cache import Progress, PromptCache, RenderStats
from bot.tts.texts import spoken_texts


class ProgressBar:
    """`prompts [#########...........]  45/120  3.1 s` on one line, redrawn in place.

    Not a terminal (CI, a log file): only every tenth of the way and the end are written, one
    line each, so logs stay short.
    """

    def __init__(self, label: str = "prompts", stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.started = time.perf_counter()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_tenth = -1

    def __call__(self, done: int, total: int, text: str = "") -> None:
        filled = self.width * done // total if total else self.width
        line = (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done:>4}/{total}"
                f"  {time.perf_counter() - self.started:5.1f} s")
        if self._tty:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        else:
            tenth = 10 * done // total if total else 10
            if tenth == self._last_tenth and done < total:
                return
            self._last_tenth = tenth
            self.stream.write(line + "\n")
        self.stream.flush()


async def render_prompts(kb: KnowledgeBase, engine: TtsEngine, cache: PromptCache,
                         progress: bool | Progress = True, extra_texts: Iterable[str] = ()) -> RenderStats:
    """Every FAQ answer, intent response and prompt (per branch where it names one), plus
    `extra_texts` (e.g. the policy's emergency text), into `cache`."""
    texts = [*spoken_texts(kb).values(), *extra_texts]
    report: Progress | None
    if progress is True:
        report = ProgressBar()
    else:
        report = progress or None
    return await cache.render_all(texts, engine, report)
