"""The Socket.IO signaling layer: auth on connect, validation at the edge, events -> rooms."""

from signaling.server import Signaling, attach

__all__ = ["Signaling", "attach"]
