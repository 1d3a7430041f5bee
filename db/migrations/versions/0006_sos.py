"""SOS alerts and their event log

Revision ID: 0006_sos
Revises: 0005_consults
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_sos"
down_revision: str | None = "0005_consults"
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
        "sos_alerts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("org_id", sa.String(36), nullable=True),
        sa.Column("elder_id", sa.String(36), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=True),
        sa.Column("api_key_id", sa.String(36), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("location", sa.JSON(), nullable=True),
        sa.Column("vitals", sa.JSON(), nullable=True),
        sa.Column("answered_by", sa.String(36), nullable=True),
        sa.Column("answered_at", TZ, nullable=True),
        sa.Column("escalate_at", TZ, nullable=True),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sos_alerts"),
        _fk("sos_alerts", "org_id", "organisations.id", "SET NULL"),
        _fk("sos_alerts", "elder_id", "users.id"),
    )
    op.create_index("ix_sos_alerts_org_created", "sos_alerts", ["org_id", "created_at"])
    op.create_index("ix_sos_alerts_elder", "sos_alerts", ["elder_id"])
    op.create_index("ix_sos_alerts_status", "sos_alerts", ["status"])
    op.create_table(
        "sos_recipients",
        sa.Column("sos_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(16), nullable=False),
        sa.Column("rung_at", TZ, nullable=False),
        sa.Column("declined_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("sos_id", "user_id", name="pk_sos_recipients"),
        _fk("sos_recipients", "sos_id", "sos_alerts.id"),
        _fk("sos_recipients", "user_id", "users.id"),
    )
    op.create_index("ix_sos_recipients_user", "sos_recipients", ["user_id"])
    op.create_table(
        "sos_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sos_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sos_events"),
        _fk("sos_events", "sos_id", "sos_alerts.id"),
    )
    op.create_index("ix_sos_events_sos", "sos_events", ["sos_id", "id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_used_at", TZ, nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        _fk("api_keys", "org_id", "organisations.id"),
    )
    op.create_index("ix_api_keys_org", "api_keys", ["org_id"])
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(256), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        _fk("webhooks", "org_id", "organisations.id"),
    )
    op.create_index("ix_webhooks_org", "webhooks", ["org_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("webhook_id", sa.String(36), nullable=False),
        sa.Column("sos_id", sa.String(36), nullable=True),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        _fk("webhook_deliveries", "webhook_id", "webhooks.id"),
    )
    op.create_index(
        "ix_webhook_deliveries_webhook", "webhook_deliveries", ["webhook_id", "created_at"]
    )
    op.create_index("ix_webhook_deliveries_status", "webhook_deliveries", ["status"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_table("api_keys")
    op.drop_table("sos_events")
    op.drop_table("sos_recipients")
    op.drop_table("sos_alerts")
