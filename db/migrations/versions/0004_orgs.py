"""organisations, memberships, role permissions, care contacts, API keys, webhooks

Revision ID: 0004_orgs
Revises: 0003_im_search
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004_orgs"
down_revision: str | None = "0003_im_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
