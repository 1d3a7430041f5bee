"""meetings, invitees, invite links, attendance

Revision ID: 0007_meetings
Revises: 0006_sos
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_meetings"
down_revision: str | None = "0006_sos"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    ref = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=f"fk_{table}_{column}_{ref}", ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "meetings",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=True),
        sa.Column("host_id", sa.String(36), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_at", TZ, nullable=False),
        sa.Column("end_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=True),
        sa.Column("reminder_minutes", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_meetings"),
        sa.UniqueConstraint("room_id", name="uq_meetings_room_id"),
        _fk("meetings", "host_id", "users.id"),
    )
    op.create_index("ix_meetings_org_started", "meetings", ["org_id", "started_at"])
    op.create_index("ix_meetings_host", "meetings", ["host_id"])
    op.create_index("ix_meetings_status_start", "meetings", ["status", "start_at"])
    op.create_table(
        "meeting_invitees",
        sa.Column("meeting_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("reminded_at", TZ, nullable=True),
        sa.Column("response", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("meeting_id", "user_id", name="pk_meeting_invitees"),
        _fk("meeting_invitees", "meeting_id", "meetings.id"),
        _fk("meeting_invitees", "user_id", "users.id"),
    )
    op.create_index("ix_meeting_invitees_user", "meeting_invitees", ["user_id"])
    op.create_table(
        "meeting_invite_links",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("meeting_id", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_meeting_invite_links"),
        sa.UniqueConstraint("token_hash", name="uq_meeting_invite_links_token_hash"),
        _fk("meeting_invite_links", "meeting_id", "meetings.id"),
    )
    op.create_index("ix_meeting_invite_links_meeting", "meeting_invite_links", ["meeting_id"])
    op.create_table(
        "meeting_attendance",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("meeting_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("guest_name", sa.String(128), nullable=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("joined_at", TZ, nullable=False),
        sa.Column("left_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_meeting_attendance"),
        _fk("meeting_attendance", "meeting_id", "meetings.id"),
        _fk("meeting_attendance", "user_id", "users.id", ondelete="SET NULL"),
    )
    op.create_index(
        "ix_meeting_attendance_meeting", "meeting_attendance", ["meeting_id", "joined_at"]
    )


def downgrade() -> None:
    op.drop_table("meeting_attendance")
    op.drop_table("meeting_invite_links")
    op.drop_table("meeting_invitees")
    op.drop_table("meetings")
