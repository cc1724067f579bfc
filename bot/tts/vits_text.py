"""Text front ends of the VITS voices (bot/tts/vits_onnx.py): a sentence → the symbol ids the model
was trained on. How text becomes ids is what Piper voices and Coqui-trained VITS differ in; the
config file beside the model (bot/tts/vits_files.py) says which and how.

Piper (`PiperText`): text → espeak-ng IPA, one list per sentence, the clause punctuation kept →
Unicode codepoints (NFD) → ids `^ _ (phoneme _)* $`. The phonemes come from piper-phonemize (the
library Piper voices are trained with) when it is installed, otherwise from the espeak-ng
program, whose phonemes can differ slightly (e.g. espeak-ng 1.51 writes a tone digit 1 that
Piper's fork does not) — `phonemizer="espeak-ng"` forces the program.

Coqui (`CoquiText`): text → Coqui's cleaner → (use_phonemes) espeak-ng IPA per stretch between
punctuation marks, the punctuation put back → one id per character in Coqui's vocabulary order
(VitsCharacters: pad, punctuations, characters + phonemes, <BLNK>) → blanks between ids if
add_blank.

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
from pathlib import Path
from typing import Any

from bot.tts.base import TtsError, TtsUnavailable
from bot.tts.neural import WarnOnce
from bot.tts.texts import split_sentences

log = logging.getLogger(__name__)

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
