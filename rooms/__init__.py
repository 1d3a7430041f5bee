"""Rooms, participants, permissions and the per-participant media flows."""

from rooms.errors import RoomError
from rooms.notify import Notifier
from rooms.permissions import MEDIA_POLICY, Identity, MediaPermissions, may_join, media_permissions
from rooms.service import RoomService

__all__ = [
    "MEDIA_POLICY",
    "Identity",
    "MediaPermissions",
    "Notifier",
    "RoomError",
    "RoomService",
    "may_join",
    "media_permissions",
]
