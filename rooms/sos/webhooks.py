"""Webhooks: SOS events POSTed as signed JSON in the background, retried with backoff, logged.

Each delivery is a row in ``webhook_deliveries`` written before the first
attempt (``pending``), then ``sent`` or ``failed`` with the attempts made, the
last HTTP status and error. The body is signed with the webhook's secret:
``X-CareRTC-Signature: sha256=<hex HMAC-SHA256 of the raw body>``. Pending
deliveries left by a stop are sent again at start-up.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.flow_errors import FlowError
from rooms.sos.log import iso, now
from rooms.sos.models import Webhook, WebhookDelivery

log = logging.getLogger("carertc.sos.webhooks")

SIGNATURE_HEADER = "X-CareRTC-Signature"
EVENT_HEADER = "X-CareRTC-Event"
DELIVERY_HEADER = "X-CareRTC-Delivery"
MAX_PARALLEL = 16
# How long this node trusts its copy of an organisation's webhook list (changes made
# on this node apply at once; those made on another node within this many seconds).
HOOK_CACHE_SECONDS = 5.0
# outcome(sos_id, "webhook_sent" | "webhook_failed", data)
Outcome = Callable[[str, str, dict[str, Any]], Awaitable[None]]


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_wire(row: Webhook) -> dict[str, Any]:
    """The listed form of a webhook (never its secret)."""
    return {
        "id": row.id,
        "org_id": row.org_id,
        "url": row.url,
        "events": list(row.events),
        "active": row.active,
        "created_at": iso(row.created_at),
    }


def delivery_wire(row: WebhookDelivery) -> dict[str, Any]:
    """The logged form of one delivery."""
    return {
        "id": row.id,
        "webhook_id": row.webhook_id,
        "sos_id": row.sos_id,
        "event": row.event,
        "status": row.status,
        "attempts": row.attempts,
        "response_status": row.response_status,
        "error": row.error,
        "created_at": iso(row.created_at),
        "finished_at": iso(row.finished_at),
    }


class Webhooks:
    """Registered endpoints and the background sender."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        retries: int = 3,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.sessions = sessions
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.outcome: Outcome | None = None
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._slots = asyncio.Semaphore(MAX_PARALLEL)
        self._closed = False
        self._hooks: dict[str, tuple[float, list[Webhook]]] = {}

    # -- registration -------------------------------------------------------------

    async def create(
        self, org_id: str, url: str, events: list[str], secret: str, created_by: str | None
    ) -> dict[str, Any]:
        """Register an endpoint for ``events`` of the organisation."""
        row = Webhook(
            org_id=org_id, url=url, events=events, secret=secret, active=True,
            created_by=created_by, created_at=now(),
        )
        async with self.sessions() as s, s.begin():
            s.add(row)
        self._hooks.pop(org_id, None)
        return webhook_wire(row)

    async def of_org(self, org_id: str) -> list[dict[str, Any]]:
        """The organisation's webhooks."""
        async with self.sessions() as s:
            rows = await s.execute(
                select(Webhook).where(Webhook.org_id == org_id).order_by(Webhook.created_at)
            )
            return [webhook_wire(r) for r in rows.scalars()]

    async def delete(self, org_id: str, webhook_id: str) -> None:
        """Remove one webhook (and its delivery log)."""
        async with self.sessions() as s, s.begin():
            row = await s.get(Webhook, webhook_id)
            if row is None or row.org_id != org_id:
                raise FlowError("webhook_not_found", "there is no such webhook")
            await s.delete(row)
        self._hooks.pop(org_id, None)

    async def deliveries(self, org_id: str, webhook_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The newest deliveries of one webhook."""
        async with self.sessions() as s:
            hook = await s.get(Webhook, webhook_id)
            if hook is None or hook.org_id != org_id:
                raise FlowError("webhook_not_found", "there is no such webhook")
            rows = await s.execute(
                select(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == webhook_id)
                .order_by(WebhookDelivery.created_at.desc())
                .limit(limit)
            )
            return [delivery_wire(r) for r in rows.scalars()]

    # -- sending ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP client and resend deliveries a stop left pending."""
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
            headers={"User-Agent": "CareRTC-Webhooks/1"},
        )
        async with self.sessions() as s:
            rows = await s.execute(
                select(WebhookDelivery, Webhook)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(WebhookDelivery.status == "pending")
            )
            pending = [(d.id, d.sos_id, d.event, d.payload, h) for d, h in rows]
        for delivery_id, sos_id, event, payload, hook in pending:
            self._spawn(self._deliver(delivery_id, sos_id, event, payload.encode(), hook))

    async def close(self) -> None:
        """Stop sending (pending deliveries stay pending for the next start)."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def publish(self, org_id: str | None, event: str, body: dict[str, Any]) -> None:
        """Send ``body`` to the organisation's webhooks for ``event`` (returns at once)."""
        if org_id is None or self._closed:
            return
        self._spawn(self._fan_out(org_id, event, body))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook_task_failed", exc_info=task.exception())

    async def _org_hooks(self, org_id: str) -> list[Webhook]:
        loop = asyncio.get_running_loop()
        cached = self._hooks.get(org_id)
        if cached is not None and loop.time() - cached[0] < HOOK_CACHE_SECONDS:
            return cached[1]
        async with self.sessions() as s:
            hooks = list(
                (
                    await s.execute(
                        select(Webhook).where(Webhook.org_id == org_id, Webhook.active.is_(True))
                    )
                ).scalars()
            )
        if len(self._hooks) > 10_000:
            self._hooks.clear()
        self._hooks[org_id] = (loop.time(), hooks)
        return hooks

    async def _fan_out(self, org_id: str, event: str, body: dict[str, Any]) -> None:
        hooks = [
            h for h in await self._org_hooks(org_id) if event in h.events or "sos.*" in h.events
        ]
        sos_id = (body.get("sos") or {}).get("id")
        for hook in hooks:
            delivery_id = str(uuid.uuid4())
            raw = json.dumps(
                {"delivery_id": delivery_id, "event": event, **body}, separators=(",", ":")
            )
            async with self.sessions() as s, s.begin():
                s.add(
                    WebhookDelivery(
                        id=delivery_id, webhook_id=hook.id, sos_id=sos_id, event=event,
                        payload=raw, status="pending", attempts=0, created_at=now(),
                    )
                )
            self._spawn(self._deliver(delivery_id, sos_id, event, raw.encode(), hook))

    async def _deliver(
        self, delivery_id: str, sos_id: str | None, event: str, raw: bytes, hook: Webhook
    ) -> None:
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery_id,
            SIGNATURE_HEADER: sign(hook.secret, raw),
        }
        status: int | None = None
        error: str | None = None
        attempts = 0
        async with self._slots:
            for attempt in range(self.retries + 1):
                if attempt:
                    await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
                attempts = attempt + 1
                try:
                    assert self._http is not None
                    async with self._http.post(hook.url, data=raw, headers=headers) as res:
                        status, error = res.status, None
                        if 200 <= res.status < 300:
                            break
                        error = f"HTTP {res.status}"
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    status, error = None, (type(exc).__name__ + ": " + str(exc))[:300]
                log.info(
                    "webhook_retry",
                    extra={"webhook_id": hook.id, "delivery_id": delivery_id, "attempt": attempts},
                )
        ok = error is None
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(
                    status="sent" if ok else "failed", attempts=attempts,
                    response_status=status, error=error, finished_at=now(),
                )
            )
        log.info(
            "webhook_sent" if ok else "webhook_failed",
            extra={"webhook_id": hook.id, "delivery_id": delivery_id, "sos_event": event,
                   "attempts": attempts, "status": status},
        )
        if sos_id and self.outcome is not None:
            data = {"webhook_id": hook.id, "delivery_id": delivery_id, "event": event,
                    "attempts": attempts, "status": status}
            if error:
                data["error"] = error
            await self.outcome(sos_id, "webhook_sent" if ok else "webhook_failed", data)
