"""Server-driven negotiation of one participant's receive transport.

The server offers (``media:offer``), the client answers (``media:answer``). At
most one offer is outstanding; changes while it is (consumers added or closed)
are folded into the next offer, made as soon as the answer is applied.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from media import MediaError
from rooms.errors import RoomError

log = logging.getLogger("carertc.rooms")


def describe_consumer(consumer: Any) -> dict[str, Any]:
    """The wire form of a consumer (PROTOCOL.md *Consumer*)."""
    app = consumer.app_data or {}
    return {
        "id": consumer.id,
        "mid": consumer.mid,
        "producer_id": consumer.producer_id,
        "participant_id": app.get("participant_id"),
        "kind": consumer.kind,
        "source": app.get("source"),
    }


class Negotiator:
    """Offers a recv transport's changes to its client, one offer at a time."""

    def __init__(
        self,
        transport: Any,
        emit: Callable[[str, dict[str, Any]], None],
        *,
        label: str,
    ) -> None:
        self.transport = transport
        self._emit = emit
        self._label = label
        self.enabled = False  # held until the client has its room:join ack
        self.closed = False
        self.offer_pending = False
        self.needed = False
        self.offers = 0
        self._answering = False
        self._task: asyncio.Task[None] | None = None

    def request(self, *_: Any) -> None:
        """Note that the transport changed; offer when allowed."""
        if self.closed:
            return
        self.needed = True
        self._maybe_offer()

    def enable(self) -> None:
        """Start offering (called once the join ack is on its way)."""
        if self.closed:
            return
        self.enabled = True
        self._maybe_offer()

    def close(self) -> None:
        """Stop; an offer being made is abandoned."""
        self.closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _maybe_offer(self) -> None:
        if (
            not self.enabled
            or self.closed
            or not self.needed
            or self.offer_pending
            or self._answering
            or (self._task is not None and not self._task.done())
        ):
            return
        self._task = asyncio.get_running_loop().create_task(
            self._offer(), name=f"rooms.offer:{self._label}"
        )

    async def _offer(self) -> None:
        self.needed = False
        try:
            sdp, consumers = await self.transport.create_offer()
        except asyncio.CancelledError:
            raise
        except MediaError as exc:
            if not self.closed:
                log.warning(
                    "media_offer_failed", extra={"participant_id": self._label, "code": exc.code}
                )
            return
        except Exception:
            if not self.closed:
                log.exception("media_offer_failed", extra={"participant_id": self._label})
            return
        if self.closed:
            return
        self.offer_pending = True
        self.offers += 1
        described = [describe_consumer(c) for c in consumers]
        log.info(
            "media_offer",
            extra={"participant_id": self._label, "consumers": len(described), "n": self.offers},
        )
        self._emit("media:offer", {"sdp": sdp, "consumers": described})

    async def answer(self, sdp: str) -> None:
        """Apply the client's answer to the outstanding offer."""
        if not self.offer_pending or self._answering:
            raise RoomError("no_offer_pending", "there is no media:offer to answer")
        self._answering = True
        try:
            await self.transport.receive_answer(sdp)
        except MediaError as exc:
            code = exc.code if exc.code in ("bad_sdp", "no_offer_pending") else "bad_sdp"
            raise RoomError(code, exc.message) from None
        else:
            self.offer_pending = False
        finally:
            self._answering = False
        self._maybe_offer()
