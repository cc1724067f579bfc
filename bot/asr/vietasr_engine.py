"""The default engine: vietasr (offline Vietnamese, embedded 69 MB ONNX model, CPU).

One `vietasr.Pipeline` (the model) per engine, shared by every call; one native session
(~2 MB) per stream. The wheel is fully offline with the "transcribe" preset: it never downloads.

Defect handled here: a native session silently forgets earlier text once a turn passes ~22 s.
So every stream ends its native turn by itself before that (at a quiet 20 ms frame after
`soft_turn_s`, at the latest at `max_turn_s`), keeps the text, and continues in a fresh native
turn; `partial()`/`final()` return all of it. Callers cannot forget the cap.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.asr.base import AsrEngine, AsrError, AsrStream, Capabilities, as_pcm, clean_text

_LOG_WARN = 3  # libvietasr levels: 0 trace, 1 debug, 2 info, 3 warn, 4 error
QUIET_RATIO = 0.1  # a frame 20 dB below the loudest frame of the native turn counts as a pause


class VietAsrStream(AsrStream):
    def __init__(self, session, sample_rate: int, max_turn_s: float, soft_turn_s: float) -> None:
        self._session = session
        self._frame = sample_rate // 50  # 20 ms
        self._max = int(max_turn_s * sample_rate)
        self._soft = int(soft_turn_s * sample_rate)
        self._samples = 0      # samples in the current native turn
        self._loudest = 0.0    # RMS of its loudest 20 ms frame
        self._done: list[str] = []  # text of native turns already ended within this turn

    def accept(self, pcm: np.ndarray) -> None:
        pcm = as_pcm(pcm)
        while pcm.size:
            # Up to the soft limit in one piece; past it frame by frame, so the cut lands on a pause.
            if self._samples < self._soft:
                room = self._soft - self._samples
            else:
                room = min(self._frame, self._max - self._samples)
            piece, pcm = pcm[:room], pcm[room:]
            self._session.accept(piece)
            self._samples += piece.size
            level = _loudest_rms(piece, self._frame)
            paused = self._samples > self._soft and level <= QUIET_RATIO * self._loudest
            if paused or self._samples >= self._max:
                self._end_native_turn()
            else:
                self._loudest = max(self._loudest, level)

    def partial(self) -> str:
        return " ".join(self._done + [clean_text(self._session.partial().text)]).strip()

    def final(self) -> str:
        self._end_native_turn()
        text = " ".join(self._done)
        self._done = []
        return text

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _end_native_turn(self) -> None:
        if self._samples:
            text = clean_text(self._session.final().text)
            if text:
                self._done.append(text)
        # The native final() does not reset: without this the next turn would repeat this text.
        self._session.reset()
        self._samples = 0
        self._loudest = 0.0


def _loudest_rms(pcm: np.ndarray, frame: int) -> float:
    """RMS of the loudest `frame`-sample block of `pcm` (a shorter tail counts as one block)."""
    x = pcm.astype(np.float32)
    full = x.size // frame * frame
    levels = []
    if full:
        levels.append(float(np.sqrt((x[:full].reshape(-1, frame) ** 2).mean(axis=1)).max()))
    if full < x.size:
        levels.append(float(np.sqrt((x[full:] ** 2).mean())))
    return max(levels)


class VietAsrEngine(AsrEngine):
    name = "vietasr"
    capabilities = Capabilities(streaming=True, partials=True, grammar=False)

    def __init__(self, model_dir: str | None = None, sample_rate: int = 8000,
                 max_turn_s: float = 15.0, soft_turn_s: float = 12.0) -> None:
        """`sample_rate`: what callers feed (the library resamples inside; 8 kHz telephone audio
        measured as accurate as 16 kHz, see docs/benchmarks.md)."""
        if model_dir is not None:
            # set_model_dir makes the library fetch missing models from the network; refuse.
            raise AsrError("the vietasr engine uses the model embedded in its wheel; model_dir must be empty")
        if not 0 < soft_turn_s <= max_turn_s <= 20:
            raise AsrError(f"need 0 < soft_turn_s <= max_turn_s <= 20 s (text is lost past ~22 s), "
                           f"got {soft_turn_s}, {max_turn_s}")
        try:
            import vietasr
            from vietasr.ffi import native
        except ImportError as exc:  # pragma: no cover - the package is in gateway.lock
            raise AsrError(f"vietasr is not installed ({exc}); install requirements/gateway.lock") from exc
        native.lib.vietasr_set_log_level(_LOG_WARN)  # its INFO lines on stderr would clutter the CLI
        try:
            self._pipeline = vietasr.Pipeline.preset("transcribe")
        except Exception as exc:  # noqa: BLE001 - PipelineError or a native failure: one message
            raise AsrError(f"cannot load vietasr: {exc}") from exc
        self.sample_rate = sample_rate
        self._max_turn_s, self._soft_turn_s = max_turn_s, soft_turn_s

    def stream(self, grammar: Sequence[str] | None = None) -> VietAsrStream:
        self._refuse_grammar(grammar)
        if self._pipeline is None:
            raise AsrError("the vietasr engine is closed")
        session = self._pipeline.stream(sample_rate=float(self.sample_rate))
        return VietAsrStream(session, self.sample_rate, self._max_turn_s, self._soft_turn_s)

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
            self._pipeline = None
