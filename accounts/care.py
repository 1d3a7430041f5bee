"""Elders' care contacts (who an SOS rings, tier by tier) and each organisation's duty desk.

The SOS flow reads :meth:`CareContacts.contacts_of` and
:meth:`CareContacts.duty_desk`; the HTTP API reads and replaces an elder's
list through :meth:`CareContacts.listing` / :meth:`CareContacts.replace`,
which check who is asking (``care.manage`` in an organisation the elder
belongs to, a global admin, or — read only — the elder).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.flow_errors import FlowError
from accounts.models import User
from accounts.org_models import CONTACT_RELATIONS, CareContact, OrgMember
from accounts.orgs import OrgActor, OrgService, check_id

log = logging.getLogger(__name__)

MAX_CONTACTS = 50
MAX_TIER = 10


class Contact(NamedTuple):
    """One care contact of an elder: ``(contact_id, relation, tier)``; tier 1 rings first."""

    contact_id: str
    relation: str
    tier: int


class CareContacts:
    """Care contacts of elders and the duty desks of organisations."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], orgs: OrgService | None = None
    ) -> None:
        self.sessions = sessions
        self.orgs = orgs or OrgService(sessions)

    # ------------------------------------------------------- for the SOS flow

    async def contacts_of(self, elder_id: str, *, include_disabled: bool = False) -> list[Contact]:
        """The elder's contacts ordered by tier (then id); disabled accounts left out by default."""
        query = (
            select(CareContact.contact_id, CareContact.relation, CareContact.tier)
            .join(User, User.id == CareContact.contact_id)
            .where(CareContact.elder_id == elder_id)
            .order_by(CareContact.tier, CareContact.contact_id)
        )
        if not include_disabled:
            query = query.where(User.disabled.is_(False))
        async with self.sessions() as session:
            rows = await session.execute(query)
            return [Contact(cid, relation, int(tier)) for cid, relation, tier in rows]

    async def duty_desk(self, org_id: str) -> list[str]:
        """User ids of the organisation's active duty-desk members, longest-standing first."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(OrgMember.user_id)
                .join(User, User.id == OrgMember.user_id)
                .where(
                    OrgMember.org_id == org_id,
                    OrgMember.duty_desk.is_(True),
                    User.disabled.is_(False),
                )
                .order_by(OrgMember.joined_at, OrgMember.user_id)
            )
            return list(rows.scalars())

    async def set_contacts(self, elder_id: str, contacts: Iterable[Contact]) -> None:
        """Replace the elder's contacts as given (no access or membership checks)."""
        async with self.sessions() as session:
            await session.execute(delete(CareContact).where(CareContact.elder_id == elder_id))
            for c in contacts:
                session.add(
                    CareContact(
                        elder_id=elder_id, contact_id=c.contact_id, relation=c.relation, tier=c.tier
                    )
                )
            await session.commit()
        log.info("care_contacts_set", extra={"elder_id": elder_id})

    # ---------------------------------------------------------- for the API

    async def listing(self, actor: OrgActor, elder_id: object) -> list[dict[str, object]]:
        """The elder's contacts with their accounts, if ``actor`` may read them."""
        eid = await self._require_access(actor, elder_id, write=False)
        return await self._detailed(eid)

    async def replace(
        self, actor: OrgActor, elder_id: object, contacts: object
    ) -> list[dict[str, object]]:
        """Validate and store ``[{contact_id, relation, tier}]`` as the elder's whole list."""
        eid = await self._require_access(actor, elder_id, write=True)
        wanted = _parse(eid, contacts)
        ids = [c.contact_id for c in wanted]
        async with self.sessions() as session:
            query = select(User.id).where(User.id.in_(ids))
            if not actor.global_admin:  # only people of the organisation acted for
                query = query.join(OrgMember, OrgMember.user_id == User.id).where(
                    OrgMember.org_id == actor.principal.org
                )
            found = set((await session.execute(query)).scalars()) if ids else set()
        missing = [cid for cid in ids if cid not in found]
        if missing:
            raise FlowError("user_not_found", f"no such user in this organisation: {missing[0]}")
        await self.set_contacts(eid, wanted)
        log.info(
            "care_contacts_replaced",
            extra={"elder_id": eid, "by": actor.user_id, "count": len(wanted)},
        )
        return await self._detailed(eid)

    async def _require_access(self, actor: OrgActor, elder_id: object, *, write: bool) -> str:
        eid = check_id(elder_id, "elder_id")
        async with self.sessions() as session:
            elder = await session.get(User, eid)
        if elder is None:
            raise FlowError("user_not_found", "no such user")
        if actor.global_admin or (not write and actor.user_id == eid):
            return eid
        org = actor.principal.org
        if org is None or await self.orgs.membership(org, eid) is None:
            raise FlowError("permission_denied", "the elder is not in this account's organisation")
        await self.orgs.require(actor.principal, "care.manage")
        return eid

    async def _detailed(self, elder_id: str) -> list[dict[str, object]]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(CareContact, User)
                .join(User, User.id == CareContact.contact_id)
                .where(CareContact.elder_id == elder_id)
                .order_by(CareContact.tier, CareContact.contact_id)
            )
            return [
                {
                    "contact_id": u.id,
                    "name": u.name,
                    "display_name": u.display_name,
                    "relation": c.relation,
                    "tier": c.tier,
                    "disabled": bool(u.disabled),
                }
                for c, u in rows
            ]


def _parse(elder_id: str, contacts: object) -> list[Contact]:
    """``[{contact_id, relation, tier}]`` checked; FlowError ``bad_request``."""
    if not isinstance(contacts, list):
        raise FlowError("bad_request", "contacts must be a list")
    if len(contacts) > MAX_CONTACTS:
        raise FlowError("bad_request", f"at most {MAX_CONTACTS} contacts")
    result: list[Contact] = []
    seen: set[str] = set()
    for item in contacts:
        if not isinstance(item, dict):
            raise FlowError("bad_request", "each contact must be an object")
        cid = check_id(item.get("contact_id"), "contact_id")
        relation = item.get("relation")
        if relation not in CONTACT_RELATIONS:
            raise FlowError(
                "bad_request", f"relation must be one of {', '.join(CONTACT_RELATIONS)}"
            )
        tier = item.get("tier", 1)
        if isinstance(tier, bool) or not isinstance(tier, int) or not 1 <= tier <= MAX_TIER:
            raise FlowError("bad_request", f"tier must be an integer from 1 to {MAX_TIER}")
        if cid == elder_id:
            raise FlowError("bad_request", "an elder cannot be their own contact")
        if cid in seen:
            raise FlowError("bad_request", "each contact may appear once")
        seen.add(cid)
        result.append(Contact(cid, str(relation), tier))
    return result
