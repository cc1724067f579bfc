"""Asterisk AudioSocket transport: `start_audiosocket(host, settings)`; see docs/asterisk.md."""
from bot.transports.audiosocket.server import AudioSocketServer, start_audiosocket

__all__ = ["AudioSocketServer", "start_audiosocket"]
