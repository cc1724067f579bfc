"""The gateway's copy of the safety net, kept current while it runs.

`make train` puts an editor's new phrase live in the brain; the gateway matches the same phrases
itself on every finished sentence (so danger is caught while the bot speaks, while the brain
thinks, and when the brain is down). Each new call asks for the net: a changed danger.yml is
loaded and checked then (one stat per call), and a file with errors changes nothing — the last
good net keeps serving, as a model that fails to load keeps the old one in the brain.
"""
from __future__ import annotations

import logging
from pathlib import Path

from bot.danger.load import FILE_NAME, load_danger_net
from bot.danger.model import DangerNet

log = logging.getLogger(__name__)


class LiveDangerNet:
    def __init__(self, content_dir: Path, branches: dict[int, str] | None = None,
                 initial: DangerNet | None = None) -> None:
        self._path = content_dir / FILE_NAME
        self._branches = branches
        self._net = initial
        self._seen = self._stamp() if initial is not None else None

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self._path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def current(self) -> DangerNet | None:
        stamp = self._stamp()
        if stamp is not None and stamp != self._seen:
            self._seen = stamp
            net, problems = load_danger_net(self._path.parent, self._branches)
            if net is None:
                log.warning("%s has errors; the safety net keeps its previous phrases: %s", self._path,
                            "; ".join(str(p) for p in problems if p.severity == "error"))
            else:
                self._net = net
                log.info("safety net reloaded from %s", self._path)
        return self._net
