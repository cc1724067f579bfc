"""viet-asr's own native library (offline Vietnamese, embedded 69 MB ONNX model, CPU): engine
"vietasr-native". Not the default: bot/asr/vietasr_onnx_engine.py runs the same model at half the
CPU with fewer errors; this one stays to measure against (bench asr).

One `vietasr.Pipeline` (the model) per engine, shared by every call; one native session
(~2 MB) per stream. The wheel is fully offline with the "transcribe" preset: it never downloads.

Defect handled here: a native session silently forgets earlier text in long turns. Measured
(tests/asr/test_vietasr.py): it splits a turn into segments at pauses of ~1 s (newlines in its
text, emitted late: with the next words) and keeps only the last ~5, so text goes missing after
~20-25 s of ordinary speech, or sooner with many short phrases. So every stream ends its native
turn by itself, keeps the text and goes on in a fresh native turn:
  - at every pause of `PAUSE_MS` (quieter than the lib's own segmentation, so a native turn
    rarely holds more than one segment, and the cut falls in silence, splitting no word);
  - after `soft_turn_s` of audio at the first quiet 20 ms frame, at `max_turn_s` at the latest;
  - when the native text holds `MAX_SEGMENTS` finished segments anyway (noisy line, no quiet).
`partial()`/`final()` return all of it; callers cannot forget the cap.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.asr.base import AsrEngine, AsrError, AsrStream, Capabilities, as_pcm, clean_text

_LOG_WARN = 3  # libvietasr levels: 0 trace, 1 debug, 2 info, 3 warn, 4 error
QUIET_RATIO = 0.1  # a frame 20 dB below the loudest frame of the native turn counts as quiet
PAUSE_MS = 500     # this much quiet ends the native turn (the lib segments at ~600-1000 ms)
MAX_SEGMENTS = 3   # finished native segments that force a cut even without quiet (it keeps ~5)


class VietAsrStream(AsrStream):
    def __init__(self, session, sample_rate: int, max_turn_s: float, soft_turn_s: float) -> None:
        self._session = session
        self._frame = sample_rate // 50  # 20 ms
        self._max = int(max_turn_s * sample_rate)
        self._soft = int(soft_turn_s * sample_rate)
        self._samples = 0      # samples in the current native turn
        self._loudest = 0.0    # RMS of its loudest 20 ms frame
        self._quiet = 0        # samples of quiet since the last loud frame
        self._pause = int(PAUSE_MS * sample_rate / 1000)
        self._done: list[str] = []  # text of native turns already ended within this turn

    def accept(self, pcm: np.ndarray) -> None:
        pcm = as_pcm(pcm)
        self._check_open()
        # Frame by frame, however much arrives at once, so a cut can land on any 20 ms boundary.
        for start in range(0, pcm.size, self._frame):
            piece = pcm[start:start + self._frame]
            if self._samples + piece.size > self._max:
                head = self._max - self._samples
                self._feed(piece[:head])
                piece = piece[head:]
            self._feed(piece)

    def _feed(self, piece: np.ndarray) -> None:
        if not piece.size:
            return
        self._session.accept(piece)
        self._samples += piece.size
        level = float(np.sqrt(np.mean(piece.astype(np.float32) ** 2)))
        quiet = level <= QUIET_RATIO * self._loudest
        self._quiet = self._quiet + piece.size if quiet else 0
        if self._should_cut(quiet):
            self._end_native_turn()
        else:
            self._loudest = max(self._loudest, level)

    def _should_cut(self, quiet: bool) -> bool:
        if self._samples >= self._max or self._quiet >= self._pause or (quiet and self._samples > self._soft):
            return True
        # ~10 µs: the native partial is a cached string.
        return self._session.partial().text.count("\n") >= MAX_SEGMENTS

    def partial(self) -> str:
        self._check_open()
        return " ".join(self._done + [clean_text(self._session.partial().text)]).strip()

    def final(self) -> str:
        self._check_open()
        self._end_native_turn()
        text = " ".join(self._done)
        self._done = []
        return text

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _check_open(self) -> None:
        if self._session is None:
            raise AsrError("this ASR stream is closed")

    def _end_native_turn(self) -> None:
        if self._samples:
            text = clean_text(self._session.final().text)
            if text:
                self._done.append(text)
        # The native final() does not reset: without this the next turn would repeat this text.
        self._session.reset()
        self._samples = self._quiet = 0
        self._loudest = 0.0


class VietAsrEngine(AsrEngine):
    name = "vietasr-native"
    capabilities = Capabilities(streaming=True, partials=True, grammar=False)

    def __init__(self, model_dir: str | None = None, sample_rate: int = 8000,
                 max_turn_s: float = 15.0, soft_turn_s: float = 12.0) -> None:
        """`sample_rate`: what callers feed (the library resamples inside; 8 kHz telephone audio
        measured as accurate as 16 kHz, see docs/benchmarks.md)."""
        if model_dir is not None:
            # set_model_dir makes the library fetch missing models from the network; refuse.
            raise AsrError("the vietasr engine uses the model embedded in its wheel; model_dir must be empty")
        if not 0 < soft_turn_s <= max_turn_s <= 20:
            raise AsrError(f"need 0 < soft_turn_s <= max_turn_s <= 20 s (longer native turns lose text), "
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
        """Free the model. Close every stream first: their native sessions use it."""
        if self._pipeline is not None:
            self._pipeline.close()
            self._pipeline = None
