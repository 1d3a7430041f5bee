"""The message store: conversations, messages, receipts, attachments.

Start at :class:`im.service.ImService`; docs/IM.md describes the guarantees,
the wire protocol and the error codes.
"""

from im.errors import ImError
from im.service import Actor, ImService
from im.validation import SendRequest

__all__ = ["Actor", "ImError", "ImService", "SendRequest"]
