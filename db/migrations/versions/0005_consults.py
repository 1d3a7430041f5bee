"""consults

Revision ID: 0005_consults
Revises: 0004_orgs
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_consults"
down_revision: str | None = "0004_orgs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consults",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=True),
        sa.Column("clinician_id", sa.String(36), nullable=False),
        sa.Column("patient_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scheduled_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("modes_used", sa.JSON(), nullable=False),
        sa.Column("current_mode", sa.String(8), nullable=True),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consults"),
        sa.UniqueConstraint("room_id", name="uq_consults_room_id"),
        sa.ForeignKeyConstraint(
            ["clinician_id"], ["users.id"], name="fk_consults_clinician_id_users"
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["users.id"], name="fk_consults_patient_id_users"),
    )
    op.create_index("ix_consults_clinician", "consults", ["clinician_id", "scheduled_at"])
    op.create_index("ix_consults_patient", "consults", ["patient_id", "scheduled_at"])
    op.create_index("ix_consults_org", "consults", ["org_id", "scheduled_at"])
    op.create_table(
        "consult_participants",
        sa.Column("consult_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("consult_id", "user_id", name="pk_consult_participants"),
        sa.ForeignKeyConstraint(
            ["consult_id"],
            ["consults.id"],
            name="fk_consult_participants_consult_id_consults",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_consult_participants_user_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_consult_participants_user", "consult_participants", ["user_id"])


def downgrade() -> None:
    op.drop_table("consult_participants")
    op.drop_table("consults")
