"""organisations, memberships, role permissions, care contacts

Revision ID: 0004_orgs
Revises: 0003_im_search
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_orgs"
down_revision: str | None = "0003_im_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TZ = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    ref = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=f"fk_{table}_{column}_{ref}", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_organisations"),
        sa.UniqueConstraint("name", name="uq_organisations_name"),
    )
    op.create_table(
        "org_members",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("duty_desk", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("joined_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("org_id", "user_id", name="pk_org_members"),
        _fk("org_members", "org_id", "organisations.id"),
        _fk("org_members", "user_id", "users.id"),
    )
    op.create_index("ix_org_members_user", "org_members", ["user_id"])
    op.create_table(
        "org_role_permissions",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("permission", sa.String(40), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "role", "permission", name="pk_org_role_permissions"),
        _fk("org_role_permissions", "org_id", "organisations.id"),
    )
    op.create_table(
        "care_contacts",
        sa.Column("elder_id", sa.String(36), nullable=False),
        sa.Column("contact_id", sa.String(36), nullable=False),
        sa.Column("relation", sa.String(16), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("elder_id", "contact_id", name="pk_care_contacts"),
        _fk("care_contacts", "elder_id", "users.id"),
        _fk("care_contacts", "contact_id", "users.id"),
    )


def downgrade() -> None:
    op.drop_table("care_contacts")
    op.drop_table("org_role_permissions")
    op.drop_table("org_members")
    op.drop_table("organisations")
