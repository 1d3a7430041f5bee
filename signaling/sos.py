"""Socket.IO edge of the one-tap SOS: ``sos:*`` requests and the notifier for SosService."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rooms import Identity
from rooms.sos import SosService
from rooms.sos import validation as v
from rooms.sos.state import Online
from signaling.server import Signaling


class SosSignaling:
    """Registers ``sos:raise|accept|decline|cancel|end|ringing|active`` and delivers SOS events."""

    def __init__(self, signaling: Signaling, sos: SosService, online: Online | None = None):
        self.signaling = signaling
        self.sos = sos
        sos.notify = self
        sos.online = online
        for event, handler in {
            "sos:raise": self.raise_sos,
            "sos:accept": self.accept,
            "sos:decline": self.decline,
            "sos:cancel": self.cancel,
            "sos:end": self.end,
            "sos:ringing": self.ringing,
            "sos:active": self.active,
        }.items():
            signaling.register(event, handler)
        signaling.connect_hooks.append(sos.rooms.on_connect)

    # -- notifier -----------------------------------------------------------------------

    async def to_users(
        self, user_ids: Iterable[str], event: str, payload: dict[str, Any], skip: str | None = None
    ) -> None:
        """Every device of every user."""
        await self.signaling.to_users(list(dict.fromkeys(user_ids)), event, payload, skip=skip)

    async def to_sid(self, sid: str, event: str, payload: dict[str, Any]) -> None:
        """One device."""
        await self.signaling.sio.emit(event, payload, to=sid)

    # -- requests ---------------------------------------------------------------------------

    async def raise_sos(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """sos:raise {location?, vitals?, kiosk?} -> {sos}."""
        return {"sos": await self.sos.raise_for_user(identity, v.raise_request(data))}

    async def accept(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """sos:accept {sos_id} -> {room_id, sos}; the first accept wins."""
        return await self.sos.accept(sid, identity, v.sos_id(data))

    async def decline(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """sos:decline {sos_id} -> {ok, status}."""
        return await self.sos.decline(sid, identity, v.sos_id(data))

    async def cancel(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """sos:cancel {sos_id} -> {sos} (the elder: a false alarm)."""
        return {"sos": await self.sos.cancel(identity, v.sos_id(data))}

    async def end(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """sos:end {sos_id} -> {sos}."""
        return {"sos": await self.sos.end(identity, v.sos_id(data), reason="ended_by_user")}

    async def ringing(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """sos:ringing {sos_id} -> {ok, status}: this device is ringing."""
        return await self.sos.ringing(sid, identity, v.sos_id(data))

    async def active(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """sos:active {} -> {sos: [...]}: live alerts the caller raised or is rung by."""
        v.obj(data, optional=True)
        return {"sos": await self.sos.mine(identity)}
