"""VITS voices exported to ONNX, run with onnxruntime: Piper voices and Coqui-trained VITS.

Both are the same network behind the same ONNX interface (Piper's trainer is a fork of the VITS
code Coqui also uses):

    inputs   input          [1, T] int64    symbol ids of one sentence
             input_lengths  [1]    int64    T
             scales         [3]    float32  noise_scale, length_scale, noise_w
             sid            [1]    int64    speaker (multi-speaker voices only)
             langid         [1]    int64    language (multilingual Coqui exports only; we send 0)
    output   [1, 1, samples] float32 in [-1, 1], at the config's sample rate

They differ in how text becomes ids, which the config file beside the model describes. The
engine reads the model directory the operator provides (`voice.tts_model_dir`); it never
downloads anything.

Piper voice — `make_tts("piper", DIR)` (or "vits-onnx", which recognises the layout):

    DIR/NAME.onnx        e.g. model.onnx or vi_VN-vais1000-medium.onnx (one voice per directory)
    DIR/NAME.onnx.json   audio.sample_rate, espeak.voice ("vi"), phoneme_type ("espeak" | "text"),
                         phoneme_id_map, num_symbols, num_speakers, speaker_id_map,
                         inference.noise_scale / length_scale / noise_w

    Text → espeak-ng IPA, one list per sentence, the clause punctuation kept → Unicode
    codepoints (NFD) → ids `^ _ (phoneme _)* $`. The phonemes come from piper-phonemize (the
    library Piper voices are trained with) when it is installed, otherwise from the espeak-ng
    program, whose phonemes can differ slightly (e.g. espeak-ng 1.51 writes a tone digit 1 that
    Piper's fork does not) — `phonemizer="espeak-ng"` forces the program.

Coqui-trained VITS — `make_tts("vits-onnx", DIR)`, the model exported with Coqui's
`Vits.export_onnx()` (Coqui TTS itself is not needed here):

    DIR/NAME.onnx        the export (Coqui's default name is coqui_vits.onnx)
    DIR/config.json      the training config Coqui wrote beside the checkpoint; read here:
                         audio.sample_rate; characters.{characters_class, characters, phonemes,
                         punctuations, pad, eos, bos, blank, is_unique, is_sorted};
                         use_phonemes, phoneme_language ("vi"), phonemizer ("espeak");
                         text_cleaner (basic_cleaners, multilingual_cleaners, …); add_blank;
                         enable_eos_bos_chars; model_args.{inference_noise_scale, length_scale,
                         inference_noise_scale_dp, num_speakers}
    DIR/speakers.json    optional, multi-speaker: {"name": id}

    Text → Coqui's cleaner → (use_phonemes) espeak-ng IPA per stretch between punctuation marks,
    the punctuation put back → one id per character in Coqui's vocabulary order (VitsCharacters:
    pad, punctuations, characters + phonemes, <BLNK>) → blanks between ids if add_blank.

Every sentence is synthesised on its own and followed by `sentence_silence_s` of silence.
Characters or phonemes the voice does not know are skipped (logged once each).
"""
from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.tts.base import TtsCapabilities, TtsError, TtsUnavailable
from bot.tts.neural import SentenceVoice, WarnOnce, files_digest, model_dir_path
from bot.tts.texts import split_sentences

log = logging.getLogger(__name__)

PIPER_LAYOUT = "NAME.onnx + NAME.onnx.json (a Piper voice)"
COQUI_LAYOUT = "NAME.onnx + config.json (a Coqui VITS ONNX export)"
REQUIRED_INPUTS = ("input", "input_lengths", "scales")
OPTIONAL_INPUTS = ("sid", "langid")
BOS, EOS, PAD = "^", "$", "_"

_espeak_library_lock = threading.Lock()  # the espeak-ng library inside piper-phonemize is not thread-safe


# ── espeak-ng ──────────────────────────────────────────────────────────────────────────────────
def _espeak_binary(binary: str = "espeak-ng") -> str:
    path = shutil.which(binary)
    if path is None:
        raise TtsUnavailable(f"'{binary}' not found; this voice needs it for phonemes "
                             "(`make install-system`; Debian/Ubuntu: apt-get install espeak-ng)")
    return path


def espeak_ipa_lines(text: str, voice: str, binary: str, ipa: str = "--ipa", timeout_s: float = 10.0) -> list[str]:
    """espeak-ng's IPA for `text`, one line per clause (text on stdin: never taken for an option)."""
    try:
        proc = subprocess.run([binary, "-q", "-b", "1", "-v", voice, ipa], input=text.encode("utf-8"),
                              capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise TtsError(f"espeak-ng took more than {timeout_s:g} s to phonemise {len(text)} characters") from None
    if proc.returncode != 0:
        raise TtsError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()[:200]}")
    lines = [line.strip() for line in proc.stdout.decode("utf-8", errors="replace").splitlines()]
    return [re.sub(r"\([^)]*\)", "", line) for line in lines if line]  # drop (en)…(vi) language switches


# ── Piper ──────────────────────────────────────────────────────────────────────────────────────
_CLAUSE = re.compile(r"([^.!?,:;]*)([.!?,:;]*)")


def _piper_phonemize_module() -> Any | None:
    try:
        import piper_phonemize  # noqa: PLC0415  (optional; bundles Piper's own espeak-ng)
    except ImportError:
        return None
    return piper_phonemize


class PiperText:
    """Text → phoneme ids, as Piper does it (see the module docstring)."""

    def __init__(self, config: dict[str, Any], source: Path, phonemizer: str = "auto",
                 espeak_binary: str = "espeak-ng") -> None:
        try:
            self.sample_rate = int(config["audio"]["sample_rate"])
            id_map = config["phoneme_id_map"]
            self.id_map = {str(k): [int(i) for i in v] for k, v in id_map.items()}
            inference = config.get("inference") or {}
            self.scales = (float(inference.get("noise_scale", 0.667)), float(inference.get("length_scale", 1.0)),
                           float(inference.get("noise_w", 0.8)))
            self.num_speakers = int(config.get("num_speakers") or 1)
            self.speaker_ids = {str(k): int(v) for k, v in (config.get("speaker_id_map") or {}).items()}
            self.num_symbols = int(config.get("num_symbols") or 0)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TtsUnavailable(f"{source}: not a Piper voice config (needs audio.sample_rate and "
                                 f"phoneme_id_map; numbers where numbers belong): {exc!r}") from None
        missing = [s for s in (BOS, EOS, PAD) if s not in self.id_map]
        if missing:
            raise TtsUnavailable(f"{source}: phoneme_id_map lacks {', '.join(missing)} (BOS ^, EOS $, PAD _)")
        self.phoneme_type = str(config.get("phoneme_type", "espeak"))
        if self.phoneme_type not in ("espeak", "text"):
            raise TtsUnavailable(f"{source}: phoneme_type '{self.phoneme_type}' is not supported (espeak, text)")
        self.voice = str((config.get("espeak") or {}).get("voice") or "vi")
        top = max((i for ids in self.id_map.values() for i in ids), default=0)
        if self.num_symbols and top >= self.num_symbols:
            raise TtsUnavailable(f"{source}: phoneme_id_map uses id {top} but num_symbols is {self.num_symbols}")
        self._library = None
        self._binary = ""
        if self.phoneme_type == "espeak":
            if phonemizer not in ("auto", "piper-phonemize", "espeak-ng"):
                raise ValueError(f"phonemizer must be auto, piper-phonemize or espeak-ng, not {phonemizer!r}")
            if phonemizer != "espeak-ng":
                self._library = _piper_phonemize_module()
                if self._library is None and phonemizer == "piper-phonemize":
                    raise TtsUnavailable("phonemizer 'piper-phonemize' asked for but the package is not installed "
                                         "(pip install -r requirements/gateway.lock)")
            if self._library is None:
                self._binary = _espeak_binary(espeak_binary)
                log.info("%s: phonemes from the espeak-ng program (piper-phonemize not used); "
                         "they may differ slightly from the voice's training phonemes", source.name)
        self.phonemizer = ("text" if self.phoneme_type == "text"
                           else "piper-phonemize" if self._library is not None else "espeak-ng")
        self._unknown = WarnOnce("phoneme_id_map")
        self._source = source.name

    def phonemes(self, text: str) -> list[list[str]]:
        """Phonemes (codepoints) of each sentence in `text`."""
        if self.phoneme_type == "text":
            return [list(unicodedata.normalize("NFD", text))]
        if self._library is not None:
            with _espeak_library_lock:
                return [list(unicodedata.normalize("NFD", "".join(s)))
                        for s in self._library.phonemize_espeak(text, self.voice) if s]
        return self._espeak_program(text)

    def _espeak_program(self, text: str) -> list[list[str]]:
        # Piper keeps each clause's terminator (and a space after , : ;) and starts a new sentence
        # after . ! ?; the program drops punctuation, so clauses are cut here and sent one by one.
        sentences: list[list[str]] = []
        current: list[str] = []
        for match in _CLAUSE.finditer(text):
            words, punct = match.group(1).strip(), match.group(2)
            if not words:
                continue
            phonemes = " ".join(espeak_ipa_lines(words, self.voice, self._binary))
            terminator = punct[:1]
            phonemes += terminator + (" " if terminator in (",", ":", ";") else "")
            current.extend(unicodedata.normalize("NFD", phonemes))
            if terminator in (".", "!", "?"):
                sentences.append(current)
                current = []
        if current:
            sentences.append(current)
        return sentences

    def ids(self, phonemes: Sequence[str]) -> list[int]:
        ids = list(self.id_map[BOS]) + list(self.id_map[PAD])
        unknown = []
        for phoneme in phonemes:
            if phoneme not in self.id_map:
                unknown.append(phoneme)
                continue
            ids += self.id_map[phoneme] + self.id_map[PAD]
        self._unknown(unknown, self._source)
        return ids + list(self.id_map[EOS])

    def sentences(self, text: str) -> list[list[int]]:
        out = []
        for sentence in split_sentences(text):
            for phonemes in self.phonemes(sentence):
                if any(p.strip() for p in phonemes):
                    ids = self.ids(phonemes)
                    if len(ids) > len(self.id_map[BOS]) + len(self.id_map[PAD]) + len(self.id_map[EOS]):
                        out.append(ids)
        return out


# ── Coqui ──────────────────────────────────────────────────────────────────────────────────────
def _lower(t: str) -> str:
    return t.lower()


def _collapse(t: str) -> str:
    return re.sub(r"\s+", " ", t).strip()


def _replace_symbols(t: str) -> str:  # Coqui's replace_symbols(lang=None)
    return t.replace(";", ",").replace("-", " ").replace(":", ",")


def _remove_aux(t: str) -> str:
    return re.sub(r"[\<\>\(\)\[\]\"]+", "", t)


def _pipeline(*steps: Callable[[str], str]) -> Callable[[str], str]:
    def clean(text: str) -> str:
        for step in steps:
            text = step(text)
        return text
    return clean


# Coqui's cleaners that make sense for Vietnamese; phoneme_cleaners here lacks its English
# number/abbreviation expansion (the editors write numbers in words anyway).
COQUI_CLEANERS: dict[str, Callable[[str], str]] = {
    "": _pipeline(),
    "no_cleaners": _pipeline(lambda t: t.replace("\n", "")),
    "basic_cleaners": _pipeline(_lower, _collapse),
    "transliteration_cleaners": _pipeline(_lower, _collapse),
    "multilingual_cleaners": _pipeline(_lower, _replace_symbols, _remove_aux, _collapse),
    "phoneme_cleaners": _pipeline(_replace_symbols, _remove_aux, _collapse),
}
COQUI_PUNCTUATIONS = ';:,.!?¡¿—…"«»“”'  # what Coqui's phonemizer keeps aside and puts back
_COQUI_DEFAULT_PAD, _COQUI_DEFAULT_BLANK = "<PAD>", "<BLNK>"


class CoquiText:
    """Text → symbol ids, as Coqui's TTSTokenizer does it for a VITS model (module docstring)."""

    def __init__(self, config: dict[str, Any], source: Path, espeak_binary: str = "espeak-ng") -> None:
        try:
            self.sample_rate = int(config["audio"]["sample_rate"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TtsUnavailable(f"{source}: not a Coqui TTS config (needs audio.sample_rate): {exc!r}") from None
        chars = config.get("characters")
        if not isinstance(chars, dict) or not (chars.get("characters") or chars.get("phonemes")):
            raise TtsUnavailable(f"{source}: no characters.characters / characters.phonemes: the vocabulary "
                                 "the model was trained with is needed to map text to ids")
        self.use_phonemes = bool(config.get("use_phonemes", False))
        self.vocab, self.pad_id, self.blank_id, self.bos_id, self.eos_id = self._vocabulary(
            chars, self.use_phonemes, source)
        self.char_to_id = {c: i for i, c in enumerate(self.vocab)}  # a repeated character: the last wins
        cleaner = config.get("text_cleaner") or ""
        if isinstance(cleaner, list):
            cleaner = cleaner[0] if len(cleaner) == 1 else "?"
        if cleaner not in COQUI_CLEANERS:
            raise TtsUnavailable(f"{source}: text_cleaner '{cleaner}' is not supported here "
                                 f"({', '.join(c for c in COQUI_CLEANERS if c)})")
        self.cleaner = COQUI_CLEANERS[cleaner]
        self.add_blank = bool(config.get("add_blank", False))
        self.use_eos_bos = bool(config.get("enable_eos_bos_chars", False))
        args = config.get("model_args") or {}
        try:
            self.scales = (float(args.get("inference_noise_scale", 0.667)), float(args.get("length_scale", 1.0)),
                           float(args.get("inference_noise_scale_dp", 1.0)))
            self.num_speakers = int(args.get("num_speakers", config.get("num_speakers", 0)) or 0)
        except (TypeError, ValueError, AttributeError) as exc:
            raise TtsUnavailable(f"{source}: model_args: numbers expected: {exc!r}") from None
        speakers = source.parent / "speakers.json"
        self.speaker_ids = {}
        if speakers.is_file():
            try:
                self.speaker_ids = {str(k): int(v) for k, v in json.loads(speakers.read_text("utf-8")).items()}
            except (ValueError, AttributeError, TypeError) as exc:
                raise TtsUnavailable(f"{speakers}: expected {{\"name\": id}}: {exc}") from None
        self.phonemizer = "graphemes"
        self.language = ""
        self._binary = ""
        if self.use_phonemes:
            backend = config.get("phonemizer") or "espeak"
            if backend not in ("espeak", "espeak-ng"):
                raise TtsUnavailable(f"{source}: phonemizer '{backend}' is not supported (espeak)")
            self.language = str(config.get("phoneme_language") or "vi")
            self._binary = _espeak_binary(espeak_binary)
            self.phonemizer = "espeak-ng"
        self._puncts = re.compile(rf"((?:\s*[{re.escape(COQUI_PUNCTUATIONS)}]+\s*)+)")
        self._unknown = WarnOnce("characters")
        self._source = source.name

    @staticmethod
    def _vocabulary(chars: dict[str, Any], use_phonemes: bool, source: Path) -> tuple[list[str], int, int, int, int]:
        # Coqui without a characters_class: IPAPhonemes or Graphemes (the trainer always writes one).
        cls = str(chars.get("characters_class") or ("IPAPhonemes" if use_phonemes else "Graphemes")).rsplit(".", 1)[-1]
        punctuations = list(chars.get("punctuations") or "")
        letters = chars.get("characters") or ""
        phonemes = chars.get("phonemes")
        if chars.get("vocab_dict"):
            raise TtsUnavailable(f"{source}: characters.vocab_dict vocabularies are not supported")
        if cls == "VitsCharacters":
            # VitsCharacters: pad, punctuations, characters + phonemes, blank; pad from the config,
            # blank always <BLNK>, nothing sorted or made unique.
            pad = chars.get("pad") if chars.get("pad") is not None else _COQUI_DEFAULT_PAD
            vocab = [pad] + punctuations + list(letters + (phonemes or "")) + [_COQUI_DEFAULT_BLANK]
            ids = {c: i for i, c in enumerate(vocab)}
            return vocab, ids[pad], ids[_COQUI_DEFAULT_BLANK], len(vocab), len(vocab)
        if cls in ("Graphemes", "IPAPhonemes", "BaseCharacters"):
            body = list(phonemes if cls == "IPAPhonemes" and phonemes else letters)
            if chars.get("is_unique", True):
                body = list(dict.fromkeys(body))
            if chars.get("is_sorted", True):
                body = sorted(body)
            specials = [chars.get(k) for k in ("pad", "eos", "bos", "blank")]
            vocab = [s for s in specials if s] + body + punctuations
            ids = {c: i for i, c in enumerate(vocab)}
            pad, eos, bos, blank = specials
            return (vocab, ids[pad] if pad else len(vocab), ids[blank] if blank else len(vocab),
                    ids[bos] if bos else len(vocab), ids[eos] if eos else len(vocab))
        raise TtsUnavailable(f"{source}: characters_class '{chars.get('characters_class')}' is not supported "
                             "(VitsCharacters, Graphemes, IPAPhonemes)")

    def phonemes(self, text: str) -> str:
        # Coqui strips the punctuation, phonemises what is between, and puts the punctuation back.
        parts = self._puncts.split(text.strip())
        out = []
        for i, part in enumerate(parts):
            if i % 2:  # a punctuation group, with its spaces
                out.append(part)
            elif part:
                lines = espeak_ipa_lines(part, self.language, self._binary, ipa="--ipa=1")
                out.append("".join(lines).replace("_", ""))
        return "".join(out)

    def ids(self, text: str) -> list[int]:
        text = self.cleaner(text)
        if self.use_phonemes:
            text = self.phonemes(text)
        ids, unknown = [], []
        for char in text:
            if char in self.char_to_id:
                ids.append(self.char_to_id[char])
            else:
                unknown.append(char)
        self._unknown(unknown, self._source)
        if not ids:
            return []
        if self.add_blank:
            spaced = [self.blank_id] * (2 * len(ids) + 1)
            spaced[1::2] = ids
            ids = spaced
        if self.use_eos_bos:
            ids = [self.bos_id, *ids, self.eos_id]
        return ids

    def sentences(self, text: str) -> list[list[int]]:
        return [ids for ids in (self.ids(s) for s in split_sentences(text)) if ids]


# ── the engine ─────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class VoiceFiles:
    layout: str  # "piper" | "coqui"
    model: Path
    config: Path


def _one_model(candidates: list[Path], directory: Path) -> Path:
    if len(candidates) == 1:
        return candidates[0]
    named = [p for p in candidates if p.name == "model.onnx"]
    if named:
        return named[0]
    raise TtsUnavailable(f"{directory}: several voices ({', '.join(p.name for p in candidates)}); "
                         "keep one voice per directory, or name the one to use model.onnx")


def find_voice(model_dir: Path | str | None, layout: str = "auto", engine: str = "vits-onnx") -> VoiceFiles:
    """Which layout `model_dir` holds and its files; TtsUnavailable naming the expected files."""
    if layout not in ("auto", "piper", "coqui"):
        raise ValueError(f"layout must be auto, piper or coqui, not {layout!r}")
    expected = PIPER_LAYOUT if layout == "piper" else COQUI_LAYOUT if layout == "coqui" \
        else f"{PIPER_LAYOUT} or {COQUI_LAYOUT}"
    directory = model_dir_path(model_dir, engine, expected)
    models = sorted(p for p in directory.glob("*.onnx") if p.is_file())
    if not models:
        raise TtsUnavailable(f"{directory}: no .onnx model; expected {expected}")
    piper = [p for p in models if p.with_name(p.name + ".json").is_file()]
    if layout in ("auto", "piper") and piper:
        model = _one_model(piper, directory)
        return VoiceFiles("piper", model, model.with_name(model.name + ".json"))
    if layout in ("auto", "coqui") and (directory / "config.json").is_file():
        return VoiceFiles("coqui", _one_model(models, directory), directory / "config.json")
    names = ", ".join(p.name for p in sorted(directory.iterdir()))
    raise TtsUnavailable(f"{directory}: found {names}; expected {expected} "
                         f"(the config beside {models[0].name} is missing)")


class VitsOnnxEngine(SentenceVoice):
    """A Piper voice or a Coqui VITS export, from a local directory, on onnxruntime (CPU)."""

    capabilities = TtsCapabilities(streaming=False)

    def __init__(self, model_dir: Path | str | None, layout: str = "auto", speaker: int | str | None = None,
                 length_scale: float | None = None, noise_scale: float | None = None, noise_w: float | None = None,
                 phonemizer: str = "auto", sentence_silence_s: float = 0.2, volume: float = 1.0,
                 threads: int | None = None, espeak_binary: str = "espeak-ng") -> None:
        engine = "piper" if layout == "piper" else "vits-onnx"
        self.files = find_voice(model_dir, layout, engine)
        self.name = "piper" if self.files.layout == "piper" else "vits-onnx"
        try:
            config = json.loads(self.files.config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise TtsUnavailable(f"{self.files.config}: not readable JSON: {exc}") from None
        if not isinstance(config, dict):
            raise TtsUnavailable(f"{self.files.config}: expected a JSON object")
        self.text: PiperText | CoquiText
        if self.files.layout == "piper":
            self.text = PiperText(config, self.files.config, phonemizer, espeak_binary)
        else:
            self.text = CoquiText(config, self.files.config, espeak_binary)
        self.sample_rate = self.text.sample_rate
        default_noise, default_length, default_w = self.text.scales
        self.scales = np.array([default_noise if noise_scale is None else noise_scale,
                                default_length if length_scale is None else length_scale,
                                default_w if noise_w is None else noise_w], dtype=np.float32)
        self.sentence_silence_s = float(sentence_silence_s)
        self.volume = float(volume)

        try:
            import onnxruntime as ort  # noqa: PLC0415  (heavy: only when this engine is chosen)
        except ImportError as exc:
            raise TtsUnavailable(f"TTS engine '{self.name}' needs the Python package onnxruntime "
                                 f"(pip install -r requirements/gateway.lock): {exc}") from None
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self._session = ort.InferenceSession(str(self.files.model), sess_options=options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise TtsUnavailable(f"{self.files.model}: onnxruntime cannot load it: {exc}") from None
        inputs = [i.name for i in self._session.get_inputs()]
        missing = [n for n in REQUIRED_INPUTS if n not in inputs]
        extra = [n for n in inputs if n not in REQUIRED_INPUTS + OPTIONAL_INPUTS]
        if missing or extra:
            raise TtsUnavailable(f"{self.files.model}: inputs {inputs} are not a VITS export's "
                                 f"({', '.join(REQUIRED_INPUTS)}, optional {', '.join(OPTIONAL_INPUTS)})")
        self._sid = self._speaker_feed(speaker, "sid" in inputs)
        self._langid = np.array([0], dtype=np.int64) if "langid" in inputs else None
        self.speaker = None if self._sid is None else int(self._sid[0])
        self._digest = files_digest([self.files.model, self.files.config])

    def _speaker_feed(self, speaker: int | str | None, has_sid: bool) -> np.ndarray | None:
        names = self.text.speaker_ids
        if not has_sid:
            if speaker is not None:
                raise TtsUnavailable(f"{self.files.model.name} has one speaker; speaker={speaker!r} cannot be used")
            return None
        if speaker is None:
            sid = 0
        elif isinstance(speaker, str) and speaker in names:
            sid = names[speaker]
        elif isinstance(speaker, int) or (isinstance(speaker, str) and speaker.isdigit()):
            sid = int(speaker)
        else:
            raise TtsUnavailable(f"unknown speaker {speaker!r}; this voice has "
                                 f"{', '.join(names) or 'numbered speakers only'}")
        count = self.text.num_speakers
        if count > 1 and not 0 <= sid < count:
            raise TtsUnavailable(f"speaker {sid} out of range: this voice has {count} speakers (0-{count - 1})")
        return np.array([sid], dtype=np.int64)

    @property
    def voice_key(self) -> str:
        noise, length, w = (f"{float(x):g}" for x in self.scales)
        return (f"{self.name}:{self.files.model.stem}:{self._digest}:{self.text.phonemizer}:spk{self.speaker}"
                f":n{noise}:l{length}:w{w}:sil{self.sentence_silence_s:g}:vol{self.volume:g}")

    def ids(self, text: str) -> list[list[int]]:
        """The id sequence of each sentence of `text`, as fed to the model."""
        return self.text.sentences(text)

    def infer(self, ids: Sequence[int]) -> np.ndarray:
        """One sentence's ids → float samples (blocking)."""
        feeds = {"input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64),
                 "scales": self.scales}
        if self._sid is not None:
            feeds["sid"] = self._sid
        if self._langid is not None:
            feeds["langid"] = self._langid
        try:
            out = self._session.run(None, feeds)[0]
        except Exception as exc:  # onnxruntime's own exception types
            raise TtsError(f"{self.files.model.name}: inference failed on {len(ids)} ids: {exc}") from None
        return np.asarray(out, dtype=np.float32).reshape(-1)

    unsayable = "no known characters or phonemes"

    async def aclose(self) -> None:
        self._session = None  # type: ignore[assignment]
