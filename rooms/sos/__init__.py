"""One-tap video SOS: raise, ring contacts, first accept wins, escalate, log, webhooks."""

from rooms.sos.service import SosAlreadyAnswered, SosService
from rooms.sos.webhooks import Webhooks, sign

__all__ = ["SosAlreadyAnswered", "SosService", "Webhooks", "sign"]
