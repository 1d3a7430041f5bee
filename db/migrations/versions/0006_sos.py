"""SOS alerts and their event log

Revision ID: 0006_sos
Revises: 0005_consults
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006_sos"
down_revision: str | None = "0005_consults"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
