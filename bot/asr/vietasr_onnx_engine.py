"""The default engine: viet-asr's embedded model, run by our onnxruntime (CPU).

The viet-asr wheel carries a streaming conformer CTC model (ONNX, int8 weights) and runs it in
its own native library. Its bundled onnxruntime runs the graph without the fusions of a current
onnxruntime: measured on this machine, 0.19 s of CPU per second of audio there, 0.09 s here with
`ORT_ENABLE_ALL` (docs/benchmarks.md, "Speech recognition"). On 2 cores that is the difference
between ~25 and ~45 simultaneous callers. So this engine takes the same model bytes from the
installed wheel (symbols the library exports; nothing is downloaded, nothing written) and runs
the stream itself:

    8 kHz int16 -> 16 kHz (soxr) -> 80 log-mel filterbanks (kaldi-native-fbank, Kaldi's
    defaults, no dither) -> chunks of 43 frames every 40 (10 output frames of 40 ms each; the
    model holds 40 frames of attention context and its convolution state in two caches) ->
    greedy CTC over 4968 sentence pieces.

The model's own normalisation (mean and scale per bin) is inside the graph. The `offset` input
is the number of output frames already produced (position of the chunk): on 36 of the read
recordings CER 2.3 %, against 4.0 % with the offset held at 0 or counted from −40. Greedy
decoding: on those recordings it already makes fewer errors than the library's beam search (CER
2.3 % against 4.6 %), at a fraction of a millisecond per chunk.

One `InferenceSession` per engine, shared by all streams (`run` is thread-safe and releases the
GIL); one intra-op thread, because the gateway already runs one recogniser per core.
"""
from __future__ import annotations

import ctypes
from collections.abc import Sequence

import numpy as np

from bot.asr.base import AsrEngine, AsrError, AsrStream, Capabilities, as_pcm
from bot.audio.resample import StreamResampler

MODEL_RATE = 16000
MEL_BINS = 80
CHUNK_FRAMES = 43      # feature frames per model call (10 outputs after 4x subsampling, + 3 right)
CHUNK_STEP = 40        # feature frames the next chunk moves on
CHUNK_OUTPUTS = 10
MIN_FRAMES = 7         # the subsampling convolutions need 7 frames for one output
LAYERS, HEADS, CONTEXT, HEAD_2DIM = 12, 4, 40, 224  # att_cache [B, 12, 4, 40, 224]
CNN_DIM, CNN_CONTEXT = 448, 30                       # cnn_cache [B, 12, 448, 30]
MAX_OFFSET = 5040 - CONTEXT - CHUNK_OUTPUTS  # rows of the positional table (≈ 200 s of audio)
BLANK = 0
WORD_MARK = "\u2581"   # sentence-piece word start


def embedded_model() -> tuple[bytes, list[str]]:
    """The ONNX model and its token list, read from the installed viet-asr library."""
    try:
        from vietasr.ffi import NativeLibrary
    except ImportError as exc:  # pragma: no cover - the package is in gateway.lock
        raise AsrError(f"viet-asr is not installed ({exc}); install requirements/gateway.lock") from exc
    try:
        library = ctypes.CDLL(NativeLibrary.resolve_library_path())
        size = ctypes.c_size_t.in_dll(library, "vietasr_asr_model_onnx_size").value
        model = ctypes.string_at(ctypes.addressof(ctypes.c_char.in_dll(library, "vietasr_asr_model_onnx")), size)
        vocab_size = ctypes.c_size_t.in_dll(library, "vietasr_asr_vocab_size").value
        vocab = ctypes.string_at(ctypes.addressof(ctypes.c_char.in_dll(library, "vietasr_asr_vocab")), vocab_size)
    except (OSError, ValueError) as exc:
        raise AsrError(f"cannot read the model embedded in viet-asr ({exc}); this engine knows "
                       f"version 0.1.0.dev11 (requirements/gateway.lock)") from exc
    tokens: list[str] = []
    for line in vocab.decode("utf-8").splitlines():
        token, _, index = line.rpartition(" ")
        if token and index.isdigit():
            if int(index) != len(tokens):
                raise AsrError(f"viet-asr's token list is out of order at line {len(tokens) + 1}")
            tokens.append(token)
    return model, tokens


class VietAsrOnnxStream(AsrStream):
    def __init__(self, engine: VietAsrOnnxEngine) -> None:
        self._engine = engine
        self._open = True
        self._start_turn()

    def _start_turn(self) -> None:
        self._resampler = StreamResampler(self._engine.sample_rate, MODEL_RATE)
        self._fbank = self._engine.features()
        self._next_frame = 0    # first feature frame of the next chunk
        self._popped = 0        # feature frames dropped from the front
        self._outputs = 0       # output frames so far (the model's `offset`)
        self._att = np.zeros((1, LAYERS, HEADS, CONTEXT, HEAD_2DIM), np.float32)
        self._cnn = np.zeros((1, LAYERS, CNN_DIM, CNN_CONTEXT), np.float32)
        self._ids: list[int] = []

    def accept(self, pcm: np.ndarray) -> None:
        pcm = as_pcm(pcm)
        self._check_open()
        self._feed(self._resampler.process(pcm))
        self._run_chunks(final=False)

    def _feed(self, samples: np.ndarray) -> None:
        if samples.size:
            # Kaldi's features are computed on int16-scaled samples (what the model's normaliser expects).
            self._fbank.accept_waveform(MODEL_RATE, samples.astype(np.float32))

    def _run_chunks(self, final: bool) -> None:
        ready = self._fbank.num_frames_ready
        while ready - self._next_frame >= CHUNK_FRAMES:
            self._run(self._frames(self._next_frame, CHUNK_FRAMES), CHUNK_OUTPUTS)
            self._next_frame += CHUNK_STEP
        left = ready - self._next_frame
        if final and left >= MIN_FRAMES:
            frames = self._frames(self._next_frame, left)
            # Pad with the last (quiet: a turn ends in a pause) frame; keep only the real outputs.
            padded = np.concatenate([frames, np.repeat(frames[-1:], CHUNK_FRAMES - left, axis=0)])
            self._run(padded, (left - MIN_FRAMES) // 4 + 1)
            self._next_frame = ready

    def _frames(self, start: int, count: int) -> np.ndarray:
        frames = np.stack([self._fbank.get_frame(i) for i in range(start, start + count)])
        # Frames before the next chunk's start are never read again (indices stay absolute).
        keep_from = start + min(CHUNK_STEP, count)
        self._fbank.pop(keep_from - self._popped)
        self._popped = keep_from
        return frames

    def _run(self, chunk: np.ndarray, outputs: int) -> None:
        offset = min(self._outputs, MAX_OFFSET)
        logits, self._att, self._cnn = self._engine.session.run(None, {
            "chunk": chunk[None].astype(np.float32, copy=False),
            "offset": np.array([[offset]], np.int64),
            "att_cache": self._att, "cnn_cache": self._cnn})
        self._ids.extend(int(i) for i in logits[0, :outputs].argmax(axis=-1))
        self._outputs += CHUNK_OUTPUTS

    def partial(self) -> str:
        self._check_open()
        return self._engine.text(self._ids)

    def final(self) -> str:
        self._check_open()
        self._feed(self._resampler.flush())
        self._fbank.input_finished()
        self._run_chunks(final=True)
        text = self._engine.text(self._ids)
        self._start_turn()
        return text

    def close(self) -> None:
        self._open = False
        self._ids = []

    def _check_open(self) -> None:
        if not self._open:
            raise AsrError("this ASR stream is closed")


class VietAsrOnnxEngine(AsrEngine):
    name = "vietasr"
    capabilities = Capabilities(streaming=True, partials=True, grammar=False)

    def __init__(self, model_dir: str | None = None, sample_rate: int = 8000) -> None:
        """`sample_rate`: what callers feed (8 kHz telephone audio; resampled to the model's 16 kHz)."""
        if model_dir is not None:
            raise AsrError("the vietasr engine uses the model embedded in the viet-asr wheel; "
                           "model_dir must be empty")
        try:
            import kaldi_native_fbank as knf
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - both are in gateway.lock
            raise AsrError(f"{exc.name} is not installed; install requirements/gateway.lock") from exc
        model, self.tokens = embedded_model()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise AsrError(f"cannot load the viet-asr model: {exc}") from exc
        fbank = knf.FbankOptions()
        fbank.frame_opts.samp_freq = MODEL_RATE
        fbank.frame_opts.dither = 0.0
        fbank.mel_opts.num_bins = MEL_BINS
        self._new_fbank = lambda: knf.OnlineFbank(fbank)
        self.sample_rate = sample_rate

    def stream(self, grammar: Sequence[str] | None = None) -> VietAsrOnnxStream:
        self._refuse_grammar(grammar)
        if self.session is None:
            raise AsrError("the vietasr engine is closed")
        return VietAsrOnnxStream(self)

    def features(self):  # noqa: ANN201 - a kaldi_native_fbank.OnlineFbank (imported lazily)
        """A fresh streaming filterbank for one turn (Kaldi's defaults, no dither, 80 bins)."""
        return self._new_fbank()

    def text(self, ids: Sequence[int]) -> str:
        """Greedy CTC: repeats collapsed, blanks dropped, pieces joined at their word marks."""
        pieces: list[str] = []
        previous = BLANK
        for index in ids:
            if index != previous and index != BLANK and index < len(self.tokens):
                token = self.tokens[index]
                if not token.startswith("<"):  # <unk>, <sos/eos>
                    pieces.append(token)
            previous = index
        return " ".join("".join(pieces).replace(WORD_MARK, " ").split())

    def close(self) -> None:
        self.session = None
