"""Speech synthesis: engines behind one interface, the prompt cache and recorded prompts."""
from bot.tts.base import TtsCapabilities, TtsEngine, TtsError, TtsUnavailable
from bot.tts.registry import make_tts

__all__ = ["TtsCapabilities", "TtsEngine", "TtsError", "TtsUnavailable", "make_tts"]
