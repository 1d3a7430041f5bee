"""im: conversations, members, messages, attachments

Revision ID: 0002_im
Revises: 0001_users
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_im"
down_revision: str | None = "0001_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "im_conversations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("room_id", sa.String(64), nullable=True),
        sa.Column("direct_key", sa.String(80), nullable=True),
        sa.Column("created_by", sa.String(36), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_im_conversations"),
        sa.UniqueConstraint("room_id", name="uq_im_conversations_room_id"),
        sa.UniqueConstraint("direct_key", name="uq_im_conversations_direct_key"),
    )
    op.create_table(
        "im_members",
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("joined_at", TZ, nullable=False),
        sa.Column("read_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name="pk_im_members"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["im_conversations.id"],
            name="fk_im_members_conversation_id_im_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_im_members_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_im_members_user", "im_members", ["user_id"])
    op.create_table(
        "im_messages",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("sender_id", sa.String(36), nullable=True),
        sa.Column("client_msg_id", sa.String(64), nullable=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("edited_at", TZ, nullable=True),
        sa.Column("recalled_at", TZ, nullable=True),
        sa.Column("recalled_by", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_im_messages"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["im_conversations.id"],
            name="fk_im_messages_conversation_id_im_conversations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_im_messages_conversation_seq"),
        sa.UniqueConstraint(
            "sender_id", "client_msg_id", name="uq_im_messages_sender_client_msg"
        ),
    )
    op.create_index("ix_im_messages_created_at", "im_messages", ["created_at"])
    op.create_table(
        "im_attachments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("uploader_id", sa.String(36), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_name", sa.String(80), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("thumbnail_name", sa.String(80), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_im_attachments"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["im_conversations.id"],
            name="fk_im_attachments_conversation_id_im_conversations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("storage_name", name="uq_im_attachments_storage_name"),
    )
    op.create_index(
        "ix_im_attachments_conversation_id", "im_attachments", ["conversation_id"]
    )


def downgrade() -> None:
    op.drop_table("im_attachments")
    op.drop_table("im_messages")
    op.drop_table("im_members")
    op.drop_table("im_conversations")
