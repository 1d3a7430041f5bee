"""im: full-text search over messages

SQLite: a contentless FTS5 table with the trigram tokenizer, kept in sync with
``im_messages`` by triggers (the row's ``rowid`` is the FTS rowid).
PostgreSQL: the ``pg_trgm`` extension and a GIN trigram index on the searchable
text (substring search, CJK included); if the extension cannot be installed, a
GIN index on ``to_tsvector('simple', ...)`` (whole-word prefixes) instead.

The searchable text is the body, then the payload's ``title``, ``description``
and ``filename`` (cards and attachments), separated by newlines. The same
expression is used by ``im/search.py``; the two must stay identical.

Revision ID: 0003_im_search
Revises: 0002_im
Create Date: 2026-12-02
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0003_im_search"
down_revision: str | None = "0002_im"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

# PostgreSQL: must equal im.search.PG_SEARCH_TEXT.
PG_SEARCH_TEXT = (
    "(body || E'\\n' || coalesce(payload ->> 'title', '') || E'\\n' "
    "|| coalesce(payload ->> 'description', '') || E'\\n' "
    "|| coalesce(payload ->> 'filename', ''))"
)


def _sqlite_text(row: str) -> str:
    """What the FTS table indexes for ``row`` (``new`` or ``old``): nothing once recalled."""
    part = f"coalesce(json_extract({row}.payload, '$.%s'), '')"
    return (
        f"CASE WHEN {row}.recalled_at IS NOT NULL OR {row}.type = 'system' THEN '' "
        f"ELSE {row}.body || CASE WHEN json_valid({row}.payload) THEN "
        f"char(10) || {part % 'title'} || char(10) || {part % 'description'} "
        f"|| char(10) || {part % 'filename'} ELSE '' END END"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name if not context.is_offline_mode() else _offline()
    if dialect == "sqlite":
        _upgrade_sqlite()
    elif dialect == "postgresql":
        _upgrade_postgresql()


def _offline() -> str:
    return context.get_context().dialect.name


def _upgrade_sqlite() -> None:
    op.execute(
        "CREATE VIRTUAL TABLE im_messages_fts USING fts5(text, content='', tokenize='trigram')"
    )
    op.execute(
        "INSERT INTO im_messages_fts(rowid, text) "
        f"SELECT m.rowid, {_sqlite_text('m')} FROM im_messages AS m"
    )
    op.execute(
        "CREATE TRIGGER im_messages_fts_ai AFTER INSERT ON im_messages BEGIN "
        f"INSERT INTO im_messages_fts(rowid, text) VALUES (new.rowid, {_sqlite_text('new')}); "
        "END"
    )
    op.execute(
        "CREATE TRIGGER im_messages_fts_ad AFTER DELETE ON im_messages BEGIN "
        "INSERT INTO im_messages_fts(im_messages_fts, rowid, text) "
        f"VALUES ('delete', old.rowid, {_sqlite_text('old')}); "
        "END"
    )
    op.execute(
        "CREATE TRIGGER im_messages_fts_au AFTER UPDATE OF body, payload, type, recalled_at "
        "ON im_messages BEGIN "
        "INSERT INTO im_messages_fts(im_messages_fts, rowid, text) "
        f"VALUES ('delete', old.rowid, {_sqlite_text('old')}); "
        f"INSERT INTO im_messages_fts(rowid, text) VALUES (new.rowid, {_sqlite_text('new')}); "
        "END"
    )


def _upgrade_postgresql() -> None:
    if context.is_offline_mode() or _install_pg_trgm():
        op.execute(
            "CREATE INDEX ix_im_messages_search_trgm ON im_messages "
            f"USING gin ({PG_SEARCH_TEXT} gin_trgm_ops)"
        )
    else:
        log.warning("pg_trgm is not available; message search uses whole-word prefixes")
        op.execute(
            "CREATE INDEX ix_im_messages_search_tsv ON im_messages "
            f"USING gin (to_tsvector('simple', {PG_SEARCH_TEXT}))"
        )


def _install_pg_trgm() -> bool:
    """Install pg_trgm if the server ships it and we may; False otherwise."""
    bind = op.get_bind()
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    ).first()
    if available is None:
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        return False
    return True


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("im_messages_fts_ai", "im_messages_fts_ad", "im_messages_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS im_messages_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_im_messages_search_trgm")
        op.execute("DROP INDEX IF EXISTS ix_im_messages_search_tsv")
