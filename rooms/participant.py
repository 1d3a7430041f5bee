"""A participant: one client session in one room, with a send and a recv transport."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rooms.negotiation import Negotiator
from rooms.notify import Outbox
from rooms.permissions import Identity, MediaPermissions


@dataclass(eq=False)
class Participant:
    """One client session in one room."""

    id: str
    session: str
    room_id: str
    identity: Identity
    permissions: MediaPermissions
    outbox: Outbox
    send: Any = None  # media Transport ("send"): the client offers, we answer
    recv: Any = None  # media Transport ("recv"): we offer, the client answers
    negotiator: Negotiator | None = None
    producers: dict[str, Any] = field(default_factory=dict)  # producer id -> Producer
    consumers: dict[str, Any] = field(default_factory=dict)  # consumer id -> Consumer
    consumed: set[str] = field(default_factory=set)  # producer ids consumed on recv
    audio_muted: bool = False
    video_muted: bool = False
    host: bool = False  # may use host controls (granted by the room's access rule)
    ready: bool = False  # transports exist; may be subscribed to others' producers
    pixelated: bool = False  # host control: the camera is pixelated for everyone
    pixel_rect: tuple[float, float, float, float] | None = None  # the pixelated area, or all
    composite: bool = False  # receives the room's composite instead of each track
    left: bool = False

    @property
    def screen_sharing(self) -> bool:
        """Whether an open producer has source ``screen``."""
        return any(source_of(p) == "screen" for p in self.producers.values())

    def producers_of(self, source: str) -> list[Any]:
        """This participant's open producers of ``source``."""
        return [p for p in self.producers.values() if source_of(p) == source]

    def to_dict(self) -> dict[str, Any]:
        """The wire form (PROTOCOL.md *Participant*)."""
        return {
            "id": self.id,
            "user_id": self.identity.user_id,
            "name": self.identity.name,
            "role": self.identity.role,
            "host": self.host,
            "audio_muted": self.audio_muted,
            "video_muted": self.video_muted,
            "screen_sharing": self.screen_sharing,
            "pixelated": self.pixelated,
        }


def source_of(producer: Any) -> str | None:
    """The ``source`` a producer was published as (kept in its app_data)."""
    app = producer.app_data or {}
    source = app.get("source")
    return source if isinstance(source, str) else None
