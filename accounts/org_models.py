"""Tables of organisations: memberships, per-organisation role permissions, care contacts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from accounts.models import _now, _uuid
from db.base import Base

ORG_KINDS = ("hospital", "community_hospital", "care_institution", "other")
CONTACT_RELATIONS = ("family", "primary_doctor", "other")


class Organisation(Base):
    """A hospital, community hospital or care institution."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="hospital")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class OrgMember(Base):
    """A user's membership of an organisation, with their role there."""

    __tablename__ = "org_members"

    org_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))
    duty_desk: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    __table_args__ = (Index("ix_org_members_user", "user_id"),)


class OrgRolePermission(Base):
    """An organisation's override of the default table: grant or revoke one permission."""

    __tablename__ = "org_role_permissions"

    org_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    permission: Mapped[str] = mapped_column(String(40), primary_key=True)
    allowed: Mapped[bool] = mapped_column(Boolean)


class CareContact(Base):
    """Someone an elder's SOS rings: family, the primary doctor; ``tier`` 1 rings first."""

    __tablename__ = "care_contacts"

    elder_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    relation: Mapped[str] = mapped_column(String(16))
    tier: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
