"""SIP transport: a PBX sends calls to the bot by SIP INVITE; audio is G.711 RTP. See docs/sip.md."""
from bot.transports.sip.server import SipServer, start_sip

__all__ = ["SipServer", "start_sip"]
