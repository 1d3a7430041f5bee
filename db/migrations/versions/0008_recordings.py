"""recordings, their files and participants, the recording access log; im_attachments.encrypted

Revision ID: 0008_recordings
Revises: 0007_meetings
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_recordings"
down_revision: str | None = "0007_meetings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=True),
        sa.Column("consult_id", sa.String(36), nullable=True),
        sa.Column("meeting_id", sa.String(36), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("layout", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_by", sa.String(36), nullable=True),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("node", sa.String(100), nullable=True),
        sa.Column("heartbeat_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_recordings"),
    )
    op.create_index("ix_recordings_org_started", "recordings", ["org_id", "started_at"])
    op.create_index("ix_recordings_room_started", "recordings", ["room_id", "started_at"])
    op.create_index("ix_recordings_started", "recordings", ["started_at"])
    op.create_index("ix_recordings_status", "recordings", ["status"])
    op.create_index("ix_recordings_consult", "recordings", ["consult_id"])
    op.create_index("ix_recordings_meeting", "recordings", ["meeting_id"])
    op.create_table(
        "recording_files",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("recording_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("media_kind", sa.String(8), nullable=False),
        sa.Column("codec", sa.String(32), nullable=False),
        sa.Column("container", sa.String(8), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recording_files"),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"],
            name="fk_recording_files_recording_id_recordings", ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_recording_files_recording", "recording_files", ["recording_id", "started_at"]
    )
    op.create_table(
        "recording_participants",
        sa.Column("recording_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("recording_id", "user_id", name="pk_recording_participants"),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"],
            name="fk_recording_participants_recording_id_recordings", ondelete="CASCADE",
        ),
    )
    op.create_index("ix_recording_participants_user", "recording_participants", ["user_id"])
    op.create_index("ix_recording_participants_name", "recording_participants", ["name"])
    op.create_table(
        "recording_access_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=True),
        sa.Column("recording_id", sa.String(36), nullable=True),
        sa.Column("file_id", sa.String(36), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("range", sa.String(100), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_recording_access_log"),
    )
    op.create_index("ix_recording_access_log_org_at", "recording_access_log", ["org_id", "at"])
    op.create_index(
        "ix_recording_access_log_recording_at", "recording_access_log", ["recording_id", "at"]
    )
    op.create_index("ix_recording_access_log_user_at", "recording_access_log", ["user_id", "at"])
    with op.batch_alter_table("im_attachments") as batch:
        batch.add_column(
            sa.Column("encrypted", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("im_attachments") as batch:
        batch.drop_column("encrypted")
    op.drop_table("recording_access_log")
    op.drop_table("recording_participants")
    op.drop_table("recording_files")
    op.drop_table("recordings")
