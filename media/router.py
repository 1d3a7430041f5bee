"""Router: one per room; creates transports and knows every producer in the room."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiortc import RTCIceServer

from .errors import MediaError
from .ids import new_id
from .local_producer import LocalProducer
from .producer import Producer
from .transport import Transport


def _ice_server(server: RTCIceServer | Mapping[str, Any]) -> RTCIceServer | None:
    """The STUN part of an ICE server entry; TURN is for clients, never for the SFU itself."""
    if isinstance(server, RTCIceServer):
        urls, username, credential = server.urls, server.username, server.credential
    else:
        urls, username, credential = server["urls"], server.get("username"), server.get("credential")
    stun = [u for u in ([urls] if isinstance(urls, str) else list(urls))
            if isinstance(u, str) and u.lower().startswith(("stun:", "stuns:"))]
    if not stun:
        return None
    return RTCIceServer(urls=stun, username=username, credential=credential)


class Router:
    """A room's media: its transports, producers and consumers."""

    def __init__(self, ice_servers: Iterable[RTCIceServer | Mapping[str, Any]] | None = None,
                 app_data: dict[str, Any] | None = None) -> None:
        self.id = new_id("r")
        self.app_data = dict(app_data or {})
        self.closed = False
        self._ice_servers = [x for x in (_ice_server(s) for s in (ice_servers or [])) if x]
        self._transports: dict[str, Transport] = {}
        self._producers: dict[str, Producer] = {}
        self._local_producers: dict[str, LocalProducer] = {}
        from pyee.asyncio import AsyncIOEventEmitter
        self.observer = AsyncIOEventEmitter()

    @property
    def transports(self) -> list[Transport]:
        """Open transports."""
        return list(self._transports.values())

    @property
    def producers(self) -> list[Producer]:
        """Open producers of every send transport."""
        self._collect()
        return list(self._producers.values())

    @property
    def local_producers(self) -> list[LocalProducer]:
        """Open local producers (not in `producers`)."""
        return list(self._local_producers.values())

    def create_local_producer(self, kind: str, mime_type: str,
                              app_data: dict[str, Any] | None = None, *,
                              stream_id: str | None = None) -> LocalProducer:
        """A producer fed by `send_frame()` on the server ("video/VP8", "video/H264", "audio/opus")."""
        if self.closed:
            raise MediaError("closed", f"router {self.id} is closed")
        producer = LocalProducer(self, kind, mime_type, app_data, stream_id)
        self._local_producers[producer.id] = producer
        return producer

    def _local_producer_closed(self, producer: LocalProducer) -> None:
        self._local_producers.pop(producer.id, None)

    def get_producer(self, producer_id: str) -> Producer | None:
        """An open producer by id."""
        self._collect()
        return self._producers.get(producer_id)

    def _collect(self) -> None:
        for transport in self._transports.values():
            for producer in transport.producers:
                self._producers.setdefault(producer.id, producer)

    async def create_transport(self, direction: str, app_data: dict[str, Any] | None = None
                               ) -> Transport:
        """A new `send` (publishing) or `recv` (subscribing) transport."""
        if self.closed:
            raise MediaError("closed", f"router {self.id} is closed")
        if direction not in ("send", "recv"):
            raise MediaError("wrong_direction", "direction must be 'send' or 'recv'")
        transport = Transport(self, direction, dict(app_data or {}), self._ice_servers)
        self._transports[transport.id] = transport
        return transport

    def _producer_closed(self, producer: Producer) -> None:
        self._producers.pop(producer.id, None)

    def _transport_closed(self, transport: Transport) -> None:
        self._transports.pop(transport.id, None)

    async def close(self) -> None:
        """Close every transport (and so every producer and consumer)."""
        if self.closed:
            return
        self.closed = True
        for local in list(self._local_producers.values()):
            local.close()
        for transport in list(self._transports.values()):
            await transport.close()
        self.observer.emit("close")

    def dump(self) -> dict[str, Any]:
        """Description and statistics of everything in the room."""
        return {
            "id": self.id, "closed": self.closed, "app_data": self.app_data,
            "transports": [t.dump() for t in self._transports.values()],
            "local_producers": [p.dump() for p in self._local_producers.values()],
        }
