"""Shared set-up of the SOS tests: an organisation, an elder, tiered contacts and a duty desk."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from accounts.models import User
from accounts.org_models import CareContact, Organisation, OrgMember
from carertc.app import SESSIONS
from carertc.config import RoomsSettings, Settings, SosSettings
from tests.support.client import TestClient

SOS_EVENTS = ("sos:ring", "sos:ring_stop", "sos:update", "sos:start_call")


def sos_settings(settings: Settings, **sos: Any) -> Settings:
    """Short empty-room grace, quick webhook retries, and the given SOS settings."""
    values = {"webhook_backoff_seconds": 0.05, "webhook_timeout_seconds": 2.0, **sos}
    return dataclasses.replace(
        settings,
        rooms=RoomsSettings(empty_grace_seconds=0.3, max_participants=6),
        sos=SosSettings(**values),
    )


@dataclass
class World:
    """Who is who in one organisation (users by nickname, tokens acting for the org)."""

    server: Any
    org_id: str
    users: dict[str, User] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # role in the organisation
    clients: list[TestClient] = field(default_factory=list)

    def token(self, who: str, org: str | None = "") -> str:
        """A token for ``who`` acting for the organisation (``org=None``: for none)."""
        user = self.users[who]
        return self.server.tokens.issue(
            user_id=user.id, name=user.display_name, role=self.roles.get(who, user.role),
            org=self.org_id if org == "" else org,
        )

    def id(self, who: str) -> str:
        """The user id of ``who``."""
        return self.users[who].id

    async def device(self, who: str, *, ringing: bool = True) -> TestClient:
        """A connected socket of ``who`` that records SOS events with arrival times."""
        client = TestClient(self.server.url, self.token(who), name=who)
        self.clients.append(client)
        client.arrived = {}  # type: ignore[attr-defined]
        for event in SOS_EVENTS:
            client.sio.on(event, _recorder(client, event, ringing))
        await client.connect()
        return client

    async def http(
        self, method: str, path: str, who: str | None = None, *, json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One HTTP request as ``who`` (bearer) -> (status, body)."""
        hdrs = dict(headers or {})
        if who is not None:
            hdrs["Authorization"] = f"Bearer {self.token(who)}"
        async with aiohttp.ClientSession() as http, http.request(
            method, self.server.url + path, json=json, headers=hdrs
        ) as res:
            body = await res.json() if res.content_type == "application/json" else None
            return res.status, body

    async def close(self) -> None:
        """Close every device."""
        for client in self.clients:
            await client.close()


def _recorder(client: TestClient, event: str, ringing: bool) -> Any:
    async def on_event(data: Any = None) -> None:
        client.arrived.setdefault(event, []).append(time.monotonic())  # type: ignore[attr-defined]
        client.events[event].append(data)
        client._changed.set()
        if event == "sos:ring" and ringing:
            await client.sio.emit("sos:ringing", {"sos_id": data["sos"]["id"]})

    return on_event


async def make_world(server: Any, *, desk: bool = True, tier2: bool = True) -> World:
    """Elder Mrs Wu; tier 1: daughter Lin and Dr Chen; tier 2: son Bo; duty desk: nurse Ada."""
    world = World(server=server, org_id="")
    people = [
        ("elder", "elder", "Mrs Wu"), ("lin", "family", "Lin Wu"), ("chen", "doctor", "Dr Chen"),
        ("bo", "family", "Bo Wu"), ("ada", "nurse", "Nurse Ada"), ("admin", "staff", "Org Admin"),
        ("outsider", "family", "Someone Else"), ("staff", "doctor", "Dr Other"),
    ]
    for nick, role, name in people:
        world.users[nick] = await server.users.create(
            f"{nick}-{time.monotonic_ns()}", role, "pw", display_name=name
        )
    sessions = server.app[SESSIONS]
    async with sessions() as s, s.begin():
        org = Organisation(name=f"Sunrise {time.monotonic_ns()}", kind="care_institution")
        s.add(org)
        await s.flush()
        world.org_id = org.id
        for nick in ("elder", "lin", "chen", "bo", "ada", "admin", "outsider", "staff"):
            user = world.users[nick]
            world.roles[nick] = "admin" if nick == "admin" else user.role
            s.add(OrgMember(org_id=org.id, user_id=user.id, role=world.roles[nick],
                            duty_desk=desk and nick == "ada"))
        contacts = [("lin", "family", 1), ("chen", "primary_doctor", 1)]
        if tier2:
            contacts.append(("bo", "family", 2))
        for nick, relation, tier in contacts:
            s.add(CareContact(elder_id=world.id("elder"), contact_id=world.id(nick),
                              relation=relation, tier=tier))
    return world
