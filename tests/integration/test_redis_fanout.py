"""With REDIS_URL set, Socket.IO events fan out through a real Redis."""

from __future__ import annotations

import dataclasses
import os

import redis.asyncio as aioredis

from tests.support.calls import Call, call_settings
from tests.support.client import TestClient

REDIS_URL = os.environ.get("REDIS_URL_TEST", "redis://127.0.0.1:6379/15")


async def test_call_events_travel_through_redis_when_redis_url_is_set(
    settings, server_factory
) -> None:
    server = await server_factory(
        dataclasses.replace(call_settings(settings), redis_url=REDIS_URL)
    )
    call = Call(server)
    probe = aioredis.from_url(REDIS_URL)
    try:
        alice: TestClient = await call.joined("redis-room", "doctor", "camera", "microphone")
        subscribers = await probe.pubsub_numsub("carertc-socketio")
        assert subscribers[0][1] >= 1, "the server is not listening on the Redis channel"
        bob: TestClient = await call.joined("redis-room", "nurse", "camera", "microphone")
        await alice.wait_event("participant:joined")
        await bob.wait_for(lambda: bob.frames_from(alice.participant_id, "camera") > 0,
                           what="bob decodes alice's camera")
        await alice.wait_for(lambda: alice.frames_from(bob.participant_id, "camera") > 0,
                             what="alice decodes bob's camera")
    finally:
        await call.close()
        await probe.aclose()
