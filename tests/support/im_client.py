"""A messaging client for tests: python-socketio speaking the ``im:*`` events of docs/IM.md."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import Any

import socketio

from tests.support.client import RequestError

IM_EVENTS = ("im:message", "im:updated", "im:read", "im:typing", "im:presence", "im:conversation")


class ImClient:
    """One device of one user; records every ``im:*`` event it receives."""

    def __init__(self, url: str, token: str, *, reconnection: bool = False) -> None:
        self.url = url
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=reconnection, request_timeout=10)
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._changed = asyncio.Event()
        for name in IM_EVENTS:
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        async def record(data: Any) -> None:
            self.events[name].append(data)
            self._changed.set()

        return record

    async def connect(self) -> ImClient:
        """Open the socket (websocket transport only)."""
        await self.sio.connect(
            self.url, auth={"token": self.token}, transports=["websocket"], wait_timeout=10
        )
        return self

    async def disconnect(self) -> None:
        """Close the socket."""
        await self.sio.disconnect()

    async def call(self, event: str, data: Any = None, timeout: float = 10) -> Any:
        """Emit with an ack; the ack's value (an error object is returned as is)."""
        return await self.sio.call(event, data, timeout=timeout)

    async def request(self, event: str, data: Any = None, timeout: float = 10) -> dict[str, Any]:
        """Emit with an ack; raise :class:`RequestError` on an error ack."""
        result = await self.call(event, data, timeout)
        if isinstance(result, dict) and "error" in result:
            raise RequestError(event, result["error"]["code"], result["error"]["message"])
        return result

    async def send_text(
        self, conversation_id: str, body: str, client_msg_id: str | None = None
    ) -> dict[str, Any]:
        """im:send a text message; the ack."""
        return await self.request(
            "im:send",
            {
                "conversation_id": conversation_id,
                "client_msg_id": client_msg_id or uuid.uuid4().hex,
                "type": "text",
                "body": body,
            },
        )

    async def sync_all(self, conversation_id: str, since_seq: int = 0) -> list[dict[str, Any]]:
        """Every message after ``since_seq``, following ``has_more``."""
        out: list[dict[str, Any]] = []
        while True:
            page = await self.request(
                "im:sync",
                {"conversation_id": conversation_id, "since_seq": since_seq, "limit": 500},
            )
            out.extend(page["messages"])
            if not page["has_more"] or not page["messages"]:
                return out
            since_seq = page["messages"][-1]["seq"]

    async def wait_for(
        self, event: str, predicate: Any = None, timeout: float = 10
    ) -> dict[str, Any]:
        """The first recorded ``event`` matching ``predicate`` (waits for it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for item in self.events[event]:
                if predicate is None or predicate(item):
                    return item
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {event} matching within {timeout} s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass
