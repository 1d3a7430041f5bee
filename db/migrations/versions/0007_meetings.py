"""meetings, invitees, invite links, attendance

Revision ID: 0007_meetings
Revises: 0006_sos
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007_meetings"
down_revision: str | None = "0006_sos"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
