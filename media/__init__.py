"""CareRTC media: a forwarding SFU on aiortc (RTP level, no decode or re-encode)."""

from .consumer import Consumer
from .errors import MediaError
from .local_producer import LocalProducer
from .producer import Producer
from .router import Router
from .totals import totals
from .transport import Transport

__all__ = ["Consumer", "LocalProducer", "MediaError", "Producer", "Router", "Transport", "totals"]
