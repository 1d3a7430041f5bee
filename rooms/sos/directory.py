"""Who an SOS concerns: an elder's care contacts tier by tier, the duty desk, names.

Reads go through :class:`accounts.care.CareContacts` and
:class:`accounts.orgs.OrgService`; the SOS code asks only through this class.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.care import CareContacts
from accounts.models import User
from accounts.orgs import OrgActor, OrgService


@dataclass(frozen=True)
class Step:
    """One escalation step: who rings together (``tier`` 1, 2, ... or ``"duty_desk"``)."""

    tier: int | str
    members: tuple[tuple[str, str], ...]  # (user id, relation)


class Directory:
    """Care contacts, memberships and users as the SOS flow needs them."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], orgs: OrgService) -> None:
        self.sessions = sessions
        self.orgs = orgs
        self.care = CareContacts(sessions, orgs)

    async def plan(self, elder_id: str, org_id: str | None) -> list[Step]:
        """The escalation steps: contacts tier by tier, then the organisation's duty desk."""
        tiers: dict[int, list[tuple[str, str]]] = {}
        for contact in await self.care.contacts_of(elder_id):
            if contact.contact_id != elder_id:
                tiers.setdefault(contact.tier, []).append((contact.contact_id, contact.relation))
        steps = [Step(tier, tuple(members)) for tier, members in sorted(tiers.items())]
        if org_id is not None:
            desk = tuple(
                (uid, "duty_desk") for uid in await self.care.duty_desk(org_id) if uid != elder_id
            )
            if desk:
                steps.append(Step("duty_desk", desk))
        return steps

    async def is_member(self, org_id: str, user_id: str) -> bool:
        """Whether the user belongs to the organisation."""
        return await self.orgs.membership(org_id, user_id) is not None

    async def home_org(self, user_id: str, preferred: str | None) -> str | None:
        """``preferred`` if the user is a member of it, else their first organisation."""
        orgs = [m.org_id for m in await self.orgs.memberships(user_id)]
        if preferred is not None and preferred in orgs:
            return preferred
        return orgs[0] if orgs else None

    async def actor(self, user_id: str, org: str | None) -> OrgActor | None:
        """The user acting for ``org`` with their current role there (None: no such user)."""
        async with self.sessions() as s:
            user = await s.get(User, user_id)
        if user is None or user.disabled:
            return None
        return await self.orgs.actor(user, org)

    async def names(self, user_ids: set[str]) -> dict[str, str]:
        """Display names of ``user_ids`` (unknown ids are left out)."""
        if not user_ids:
            return {}
        async with self.sessions() as s:
            rows = await s.execute(
                select(User.id, User.display_name).where(User.id.in_(user_ids))
            )
            return {uid: name for uid, name in rows}
