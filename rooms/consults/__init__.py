"""Consults: a clinician and a patient in text, voice or video, with their conversation.

Start at :class:`rooms.consults.service.ConsultService`; docs/CARE.md ("Consults")
describes the flow, the HTTP routes and the events.
"""

from rooms.consults.models import Consult, ConsultParticipant
from rooms.consults.service import ConsultService

__all__ = ["Consult", "ConsultParticipant", "ConsultService"]
