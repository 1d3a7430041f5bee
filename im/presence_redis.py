"""Presence shared by every node through Redis.

Each node keeps its own sockets in memory (:class:`Presence`) and mirrors a
per-user socket count into the hash ``carertc:presence:<node>``. Live nodes
heartbeat into the sorted set ``carertc:presence:nodes``; a node that stops
heartbeating (crashed) drops out after :data:`NODE_TTL` seconds, so its
users do not stay "online" forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

from im.presence import Presence

log = logging.getLogger(__name__)

PREFIX = "carertc:presence"
NODES = f"{PREFIX}:nodes"
HEARTBEAT = 10.0
NODE_TTL = 30.0


class RedisPresence(Presence):
    """:class:`Presence` whose answers cover every node sharing the Redis server."""

    def __init__(self, url: str, node_id: str | None = None, heartbeat: float = HEARTBEAT) -> None:
        super().__init__()
        self.redis = aioredis.from_url(url)
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self.key = f"{PREFIX}:{self.node_id}"
        self.heartbeat = heartbeat
        self._task: asyncio.Task[None] | None = None

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._beat(), name="presence-heartbeat"
            )

    async def _beat(self) -> None:
        while True:
            try:
                await self._touch()
            except Exception:  # noqa: BLE001 - Redis away for a moment: try again next beat
                log.warning("presence_heartbeat_failed", extra={"node": self.node_id})
            await asyncio.sleep(self.heartbeat)

    async def _touch(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(NODES, {self.node_id: time.time()})
            pipe.expire(self.key, int(NODE_TTL * 2))
            await pipe.execute()

    async def _live_nodes(self) -> list[str]:
        nodes: list[Any] = await self.redis.zrangebyscore(  # type: ignore[assignment]
            NODES, time.time() - NODE_TTL, "+inf"
        )
        return [n.decode() if isinstance(n, bytes) else str(n) for n in nodes]

    async def _elsewhere(self, user_ids: list[str]) -> set[str]:
        """Users with a socket on another live node."""
        others = [n for n in await self._live_nodes() if n != self.node_id]
        if not others or not user_ids:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for node in others:
                pipe.hmget(f"{PREFIX}:{node}", user_ids)
            rows = await pipe.execute()
        found: set[str] = set()
        for row in rows:
            for uid, count in zip(user_ids, row, strict=True):
                if count is not None and int(count) > 0:
                    found.add(uid)
        return found

    async def came(self, user_id: str, sid: str) -> bool:
        """Count the socket here and in Redis; True if no node had the user before."""
        self._start()
        first_here = self.connect(user_id, sid)
        await self.redis.hset(self.key, user_id, self.local_count(user_id))
        if first_here:
            await self._touch()
        return first_here and not await self._elsewhere([user_id])

    async def went(self, user_id: str, sid: str) -> bool:
        """Uncount the socket; True if no node has the user any more."""
        last_here = self.disconnect(user_id, sid)
        if last_here:
            await self.redis.hdel(self.key, user_id)
            return not await self._elsewhere([user_id])
        await self.redis.hset(self.key, user_id, self.local_count(user_id))
        return False

    async def who(self, user_ids: Iterable[str]) -> list[str]:
        """Those of ``user_ids`` online on any live node."""
        wanted = list(user_ids)
        here = set(self.online(wanted))
        elsewhere = await self._elsewhere([u for u in wanted if u not in here])
        return [u for u in wanted if u in here or u in elsewhere]

    async def close(self) -> None:
        """Leave the cluster's presence and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.redis.zrem(NODES, self.node_id)
            await self.redis.delete(self.key)
        await self.redis.aclose()
