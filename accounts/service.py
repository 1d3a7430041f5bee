"""User accounts: create, look up, authenticate."""

from __future__ import annotations

import asyncio
import logging
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts import passwords
from accounts.errors import AccountError, AuthError, UserExists
from accounts.models import User
from accounts.roles import ROLES

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}")
MAX_DISPLAY_NAME = 128
MAX_ORGANISATION = 128


class UserService:
    """Users stored in the database; password hashing runs in a worker thread."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def create(
        self,
        name: str,
        role: str,
        password: str,
        display_name: str | None = None,
        organisation: str | None = None,
    ) -> User:
        """Create a user; raises :class:`AccountError` (``user_exists``, ``bad_*``)."""
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise AccountError(
                "bad_name",
                "name must be 1-64 letters, digits or _.@+- and start with a letter or digit",
            )
        if role not in ROLES:
            raise AccountError("bad_role", f"role must be one of {', '.join(ROLES)}")
        _check_password(password)
        display = name if display_name is None else display_name.strip()
        if not display or len(display) > MAX_DISPLAY_NAME:
            raise AccountError(
                "bad_display_name", f"display name must be 1-{MAX_DISPLAY_NAME} characters"
            )
        if organisation is not None and (not organisation or len(organisation) > MAX_ORGANISATION):
            raise AccountError(
                "bad_organisation", f"organisation must be 1-{MAX_ORGANISATION} characters"
            )
        password_hash = await asyncio.to_thread(passwords.hash_password, password)
        user = User(
            name=name,
            role=role,
            display_name=display,
            organisation=organisation,
            password_hash=password_hash,
            disabled=False,
        )
        async with self._sessions() as session:
            session.add(user)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                raise UserExists(name) from None
        log.info("user_created", extra={"user_id": user.id, "role": role})
        return user

    async def get(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        if not isinstance(user_id, str) or not user_id:
            return None
        async with self._sessions() as session:
            return await session.get(User, user_id)

    async def get_by_name(self, name: str) -> User | None:
        """The user with this name, or None."""
        async with self._sessions() as session:
            result = await session.execute(select(User).where(User.name == name))
            return result.scalar_one_or_none()

    async def list_users(self) -> list[User]:
        """All users, by name."""
        async with self._sessions() as session:
            result = await session.execute(select(User).order_by(User.name))
            return list(result.scalars())

    async def authenticate(self, name: str, password: str) -> User:
        """The user if ``password`` is right; AuthError ``bad_credentials`` or ``user_disabled``."""
        user = await self.get_by_name(name) if isinstance(name, str) else None
        encoded = user.password_hash if user is not None else None
        ok = await asyncio.to_thread(
            passwords.verify_password, password, encoded or passwords.dummy_hash()
        )
        if user is None or encoded is None or not ok:
            log.info("login_failed", extra={"user_id": user.id if user else None})
            raise AuthError("bad_credentials")
        if user.disabled:
            log.info("login_refused_disabled", extra={"user_id": user.id})
            raise AuthError("user_disabled")
        if passwords.needs_rehash(encoded):
            await self._store_hash(
                user.id, await asyncio.to_thread(passwords.hash_password, password)
            )
        return user

    async def is_active(self, user_id: str) -> bool:
        """Whether the user exists and is not disabled."""
        user = await self.get(user_id)
        return user is not None and not user.disabled

    async def set_disabled(self, user_id: str, disabled: bool = True) -> User:
        """Disable (or re-enable) a user; AccountError ``user_not_found``."""
        async with self._sessions() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise AccountError("user_not_found", "no such user")
            user.disabled = disabled
            await session.commit()
        log.info("user_disabled" if disabled else "user_enabled", extra={"user_id": user_id})
        return user

    async def set_display_name(self, user_id: str, display_name: str) -> User:
        """Change a user's display name; AccountError ``user_not_found`` / ``bad_display_name``."""
        display = display_name.strip() if isinstance(display_name, str) else ""
        if not display or len(display) > MAX_DISPLAY_NAME:
            raise AccountError(
                "bad_display_name", f"display name must be 1-{MAX_DISPLAY_NAME} characters"
            )
        async with self._sessions() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise AccountError("user_not_found", "no such user")
            user.display_name = display
            await session.commit()
        log.info("user_display_name_changed", extra={"user_id": user_id})
        return user

    async def set_password(self, user_id: str, password: str) -> None:
        """Replace a user's password; AccountError ``user_not_found`` / ``bad_password``."""
        _check_password(password)
        if not await self._store_hash(
            user_id, await asyncio.to_thread(passwords.hash_password, password)
        ):
            raise AccountError("user_not_found", "no such user")
        log.info("user_password_changed", extra={"user_id": user_id})

    async def _store_hash(self, user_id: str, password_hash: str) -> bool:
        async with self._sessions() as session:
            user = await session.get(User, user_id)
            if user is None:
                return False
            user.password_hash = password_hash
            await session.commit()
            return True


def _check_password(password: object) -> None:
    if not isinstance(password, str) or not password:
        raise AccountError("bad_password", "password must not be empty")
    if len(password.encode("utf-8")) > passwords.MAX_PASSWORD_BYTES:
        raise AccountError(
            "bad_password", f"password must be at most {passwords.MAX_PASSWORD_BYTES} bytes"
        )
