"""Try the hotline in a browser: a local page that captures the microphone and plays the bot."""
from bot.transports.web.server import WebServer, start_web

__all__ = ["WebServer", "start_web"]
