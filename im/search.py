"""Full-text search over messages, limited to the caller's conversations.

A query is split on whitespace into terms; a message matches when its
searchable text (body, then a card's title and description or an attachment's
filename) contains every term, case-insensitively, as a substring. That finds
Chinese words inside sentences ("血压" in "今天血压有点高") and English words
and prefixes alike. Recalled and system messages never match.

SQLite answers terms of three or more characters from the FTS5 trigram table
``im_messages_fts`` (migration 0003) and checks shorter terms with ``LIKE`` on
the messages of the caller's conversations. PostgreSQL uses ``ILIKE``, served
by the ``pg_trgm`` GIN index; without ``pg_trgm`` it matches whole-word
prefixes through the ``to_tsvector('simple', ...)`` index instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Table,
    Text,
    TextClause,
    bindparam,
    column,
    literal_column,
    select,
    text,
)

from im import wire
from im.errors import ImError
from im.models import Member, Message
from im.service import ImService

log = logging.getLogger(__name__)

MESSAGES: Table = Message.__table__  # type: ignore[assignment]
MEMBERS: Table = Member.__table__  # type: ignore[assignment]

MAX_QUERY_LENGTH = 200
MAX_TERMS = 8
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
SNIPPET_WIDTH = 80
# The trigram tokenizer indexes runs of three characters; shorter terms use LIKE.
MIN_FTS_TERM = 3

# Must equal the expression of the PostgreSQL indexes in migration 0003_im_search.
PG_SEARCH_TEXT = (
    "(body || E'\\n' || coalesce(payload ->> 'title', '') || E'\\n' "
    "|| coalesce(payload ->> 'description', '') || E'\\n' "
    "|| coalesce(payload ->> 'filename', ''))"
)
_SQLITE_PART = "coalesce(json_extract(im_messages.payload, '$.{}'), '')"
SQLITE_SEARCH_TEXT = (
    "(im_messages.body || CASE WHEN json_valid(im_messages.payload) THEN char(10) || "
    + " || char(10) || ".join(_SQLITE_PART.format(k) for k in ("title", "description", "filename"))
    + " ELSE '' END)"
)
_WORD_RE = re.compile(r"^\w+$")
# Made by migration 0003 in raw SQL, not by the models: schema comparisons leave them out.
_SEARCH_OBJECT_RE = re.compile(r"^(im_messages_fts(_\w+)?|ix_im_messages_search_\w+)$")


def is_search_object(name: str | None) -> bool:
    """Whether ``name`` is a search table or index (for Alembic's ``include_name``)."""
    return bool(name and _SEARCH_OBJECT_RE.match(name))


def parse_query(q: Any) -> list[str]:
    """The search terms of ``q`` (``bad_request`` if there are none or it is too long)."""
    if not isinstance(q, str) or not q.strip():
        raise ImError("bad_request", "'q' must be a non-empty search text")
    if len(q) > MAX_QUERY_LENGTH:
        raise ImError("bad_request", f"'q' must be at most {MAX_QUERY_LENGTH} characters")
    cleaned = "".join(ch if ch.isprintable() else " " for ch in q)
    terms: list[str] = []
    for term in cleaned.split():
        if term.lower() not in (t.lower() for t in terms):
            terms.append(term)
    if not terms:
        raise ImError("bad_request", "'q' must be a non-empty search text")
    if len(terms) > MAX_TERMS:
        raise ImError("bad_request", f"'q' may have at most {MAX_TERMS} words")
    return terms


def fts_phrase(term: str) -> str:
    """``term`` as an FTS5 phrase: quoted, so operators like ``NEAR`` or ``*`` are plain text."""
    return '"' + term.replace('"', '""') + '"'


def like_pattern(term: str) -> str:
    """``%term%`` with ``\\``, ``%`` and ``_`` escaped (use with ``ESCAPE '\\'``)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def searchable_fields(row: Mapping[str, Any]) -> list[str]:
    """The parts of a message that search looks at, in order."""
    payload = row["payload"] if isinstance(row["payload"], dict) else {}
    fields = [row["body"] or ""]
    for key in ("title", "description", "filename"):
        value = payload.get(key)
        if isinstance(value, str):
            fields.append(value)
    return fields


def snippet(fields: Sequence[str], terms: Sequence[str], width: int = SNIPPET_WIDTH) -> str:
    """Plain text around the first match (``…`` where cut), whitespace collapsed."""
    for field in fields:
        lowered = field.lower()
        for term in terms:
            at = lowered.find(term.lower())
            if at < 0 or len(lowered) != len(field):
                continue
            start = max(0, at - max(0, width - len(term)) // 2)
            end = min(len(field), start + width)
            start = max(0, end - width)
            return _cut(field, start, end)
    first = next((f for f in fields if f.strip()), "")
    return _cut(first, 0, min(len(first), width))


def _cut(field: str, start: int, end: int) -> str:
    body = " ".join(field[start:end].split())
    return ("…" if start > 0 else "") + body + ("…" if end < len(field) else "")


class SearchService:
    """Searches the messages of the conversations a user belongs to."""

    def __init__(self, im: ImService) -> None:
        self.im = im
        self.dialect = im.engine.dialect.name
        self._trigram: bool | None = None

    async def has_trigram(self) -> bool:
        """Whether PostgreSQL has ``pg_trgm`` installed (checked once)."""
        if self.dialect != "postgresql":
            return False
        if self._trigram is None:
            async with self.im.sessions() as s:
                found = await s.execute(
                    text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
                )
                self._trigram = found.first() is not None
            if not self._trigram:
                log.warning("im_search_without_pg_trgm")
        return self._trigram

    async def search(
        self,
        user_id: str,
        q: Any,
        *,
        conversation_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        """``{results: [{message, conversation_id, snippet}], has_more}``, newest first."""
        terms = parse_query(q)
        if not 1 <= limit <= MAX_LIMIT:
            raise ImError("bad_request", f"'limit' must be between 1 and {MAX_LIMIT}")
        if conversation_id is not None:
            await self.im.membership(user_id, conversation_id)
        mine = select(MEMBERS.c.conversation_id).where(MEMBERS.c.user_id == user_id)
        query = select(MESSAGES).where(
            MESSAGES.c.conversation_id.in_(mine),
            MESSAGES.c.recalled_at.is_(None),
            MESSAGES.c.type != "system",
            *await self._conditions(terms),
        )
        if conversation_id is not None:
            query = query.where(MESSAGES.c.conversation_id == conversation_id)
        query = query.order_by(MESSAGES.c.created_at.desc(), MESSAGES.c.seq.desc())
        async with self.im.sessions() as s:
            rows = (await s.execute(query.limit(limit + 1))).all()
        maps = [dict(r._mapping) for r in rows[:limit]]
        names = await self.im.names(m["sender_id"] for m in maps if m["sender_id"])
        results = [
            {
                "message": wire.message(m, names),
                "conversation_id": m["conversation_id"],
                "snippet": snippet(searchable_fields(m), terms),
            }
            for m in maps
        ]
        return {"results": results, "has_more": len(rows) > limit}

    async def _conditions(self, terms: list[str]) -> list[ColumnElement[bool] | TextClause]:
        if self.dialect == "sqlite":
            return self._sqlite(terms)
        words = all(_WORD_RE.match(t) for t in terms)
        if self.dialect == "postgresql" and words and not await self.has_trigram():
            return [_pg_words(terms)]
        expr = literal_column(PG_SEARCH_TEXT if self.dialect == "postgresql" else "body", Text)
        return [
            expr.ilike(bindparam(f"term_{i}", like_pattern(t)), escape="\\")
            for i, t in enumerate(terms)
        ]

    @staticmethod
    def _sqlite(terms: list[str]) -> list[ColumnElement[bool] | TextClause]:
        out: list[ColumnElement[bool] | TextClause] = []
        long_terms = [t for t in terms if len(t) >= MIN_FTS_TERM]
        if long_terms:
            fts = (
                text("SELECT rowid FROM im_messages_fts WHERE im_messages_fts MATCH :match")
                .bindparams(match=" ".join(fts_phrase(t) for t in long_terms))
                .columns(column("rowid", Integer))
            )
            out.append(literal_column("im_messages.rowid").in_(fts))
        expr = literal_column(SQLITE_SEARCH_TEXT, Text)
        out.extend(
            expr.like(bindparam(f"term_{i}", like_pattern(t)), escape="\\")
            for i, t in enumerate(terms)
            if len(t) < MIN_FTS_TERM
        )
        return out


def _pg_words(terms: list[str]) -> TextClause:
    """Whole-word prefix match through the tsvector index (terms are ``\\w+`` only)."""
    tsquery = " & ".join(f"'{t.lower()}':*" for t in terms)
    return text(
        f"to_tsvector('simple', {PG_SEARCH_TEXT}) @@ to_tsquery('simple', :tsquery)"
    ).bindparams(tsquery=tsquery)
