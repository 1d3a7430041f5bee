"""The ``carertc`` command: serve, migrate, manage users and organisations, mint tokens.

Every subcommand reads the same settings (environment variables, see
:mod:`carertc.config`). Logs go to stderr; command output goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import getpass
import ipaddress
import logging
import re
import signal
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from accounts.errors import AccountError
from accounts.flow_errors import FlowError
from accounts.models import User
from accounts.org_models import ORG_KINDS
from accounts.roles import ROLES
from accounts.service import UserService
from accounts.tokens import TokenService
from carertc.config import ConfigError, Settings, load_settings, redact_url
from carertc.logs import AccessLogger, configure_logging
from db import migrate
from db.engine import create_engine, session_factory

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from accounts.org_models import Organisation
    from accounts.orgs import OrgService
    from im.attachments import AttachmentService

log = logging.getLogger("carertc")
T = TypeVar("T")
ROOM_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``carertc`` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"carertc: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log.level, settings.log.json)
    try:
        return int(args.func(settings, args))
    except ConfigError as exc:
        print(f"carertc: configuration error: {exc}", file=sys.stderr)
        return 2
    except (AccountError, FlowError) as exc:
        print(f"carertc: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carertc", description="CareRTC telemedicine RTC server")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (CARERTC_SERVER_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (CARERTC_SERVER_PORT)")
    serve.add_argument(
        "--https",
        action="store_true",
        default=None,
        help="serve HTTPS; self-signed unless CARERTC_SERVER_TLS_CERT/KEY are set "
        "(CARERTC_SERVER_HTTPS); needed for cameras on other machines",
    )
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser("migrate", help="apply database migrations and exit")
    mig.set_defaults(func=cmd_migrate)

    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(title="user commands", metavar="USER_COMMAND", required=True)
    add = user_sub.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument(
        "--password",
        help="the password; if omitted it is prompted for (or read from stdin when not a terminal)",
    )
    add.add_argument("--display-name")
    add.add_argument("--org", help="organisation")
    add.set_defaults(func=cmd_user_add)
    lst = user_sub.add_parser("list", help="list users")
    lst.set_defaults(func=cmd_user_list)
    dis = user_sub.add_parser("disable", help="disable a user")
    dis.add_argument("name")
    dis.set_defaults(func=cmd_user_disable, disabled=True)
    ena = user_sub.add_parser("enable", help="re-enable a user")
    ena.add_argument("name")
    ena.set_defaults(func=cmd_user_disable, disabled=False)

    org = sub.add_parser("org", help="manage organisations")
    org_sub = org.add_subparsers(title="org commands", metavar="ORG_COMMAND", required=True)
    org_add = org_sub.add_parser("add", help="create an organisation")
    org_add.add_argument("name")
    org_add.add_argument("--kind", choices=ORG_KINDS, default="hospital")
    org_add.set_defaults(func=cmd_org_add)
    org_list = org_sub.add_parser("list", help="list organisations")
    org_list.set_defaults(func=cmd_org_list)
    member = org_sub.add_parser(
        "member", help="add a user to an organisation (or change their role there)"
    )
    member.add_argument("org", help="organisation name or id")
    member.add_argument("user", help="user name")
    member.add_argument("--role", required=True, choices=ROLES)
    member.add_argument(
        "--duty-desk", action="store_true", help="rung last by unanswered SOS calls"
    )
    member.set_defaults(func=cmd_org_member)

    tok = sub.add_parser("token", help="print a JWT for a user (and only the JWT)")
    tok.add_argument("--user", required=True, help="user name")
    tok.add_argument("--room", help="restrict the token to this room")
    tok.add_argument(
        "--ttl", type=int, help="lifetime in seconds (default: CARERTC_AUTH_TOKEN_TTL_SECONDS)"
    )
    tok.set_defaults(func=cmd_token)

    im = sub.add_parser("im", help="messaging maintenance")
    im_sub = im.add_subparsers(title="im commands", metavar="IM_COMMAND", required=True)
    purge = im_sub.add_parser(
        "purge", help="delete messages and attachments past their retention (once)"
    )
    purge.set_defaults(func=cmd_im_purge)
    export = im_sub.add_parser("export", help="write a conversation and its files to a ZIP")
    export.add_argument("conversation_id")
    export.add_argument("out", help="the ZIP file to write")
    export.set_defaults(func=cmd_im_export)

    rec = sub.add_parser("recording", help="recording maintenance")
    rec_sub = rec.add_subparsers(
        title="recording commands", metavar="RECORDING_COMMAND", required=True
    )
    rec_purge = rec_sub.add_parser(
        "purge", help="delete recordings past CARERTC_RECORDING_RETENTION_DAYS (once)"
    )
    rec_purge.set_defaults(func=cmd_recording_purge)
    return parser


# ------------------------------------------------------------------ serve


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Run the server until SIGINT or SIGTERM."""
    server = dataclasses.replace(
        settings.server,
        host=args.host if args.host is not None else settings.server.host,
        port=args.port if args.port is not None else settings.server.port,
        https=bool(args.https) or settings.server.https,
    )
    asyncio.run(serve(dataclasses.replace(settings, server=server)))
    return 0


async def serve(settings: Settings) -> None:
    """Build the app, listen, print where to open it, and stop cleanly on a signal."""
    from aiohttp import web

    from carertc.app import build_app

    log.info("starting", extra={"settings": settings.redacted()})
    app = await build_app(settings)
    # Everything built so far lives as long as the server: keep it out of the
    # collector's full passes (they paused the loop for ~60 ms under load).
    gc.collect()
    gc.freeze()
    runner = web.AppRunner(app, access_log_class=AccessLogger, shutdown_timeout=10.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(
            runner, settings.server.host, settings.server.port, ssl_context=ssl_context(settings)
        )
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else settings.server.port
        listening = dataclasses.replace(settings.server, port=port)
        log.info("listening", extra={"host": listening.host, "port": port})
        for line in listening_lines(dataclasses.replace(settings, server=listening)):
            print(line, flush=True)
        await stop.wait()
        log.info("stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context ``serve`` listens with, or None for plain HTTP."""
    from carertc import tls

    server = settings.server
    if server.tls_cert and server.tls_key:
        return tls.server_context(Path(server.tls_cert), Path(server.tls_key))
    if not server.https:
        return None
    hosts = ["localhost", "127.0.0.1", "::1"]
    lan = lan_address()
    if lan:
        hosts.append(lan)
    if server.host not in ("0.0.0.0", "::", ""):
        hosts.append(server.host)
    cert, key = tls.ensure_self_signed(settings.data_dir / "tls", hosts)
    return tls.server_context(cert, key)


def listening_lines(settings: Settings) -> list[str]:
    """What ``serve`` prints once it listens: the URL(s) to open in a browser."""
    host, port = settings.server.host, settings.server.port
    tls_on = settings.server.https or bool(settings.server.tls_cert)
    scheme = "https" if tls_on else "http"
    if settings.server.public_url:
        return [f"CareRTC listening on {settings.server.public_url} — open it in a browser"]
    lines: list[str] = []
    if host in ("0.0.0.0", "::", ""):
        lines.append(f"CareRTC listening on {scheme}://localhost:{port}/ — open it in a browser")
        lan = lan_address()
        if lan:
            lines.append(f"  on your network: {scheme}://{lan}:{port}/")
    else:
        shown = f"[{host}]" if _is_ipv6(host) else host
        lines.append(f"CareRTC listening on {scheme}://{shown}:{port}/ — open it in a browser")
    if not tls_on:
        lines.append(
            "  (browsers allow camera and microphone only on https:// or localhost; "
            "for other machines run `carertc serve --https`)"
        )
    elif not settings.server.tls_cert:
        lines.append("  (self-signed certificate: accept the browser's warning once)")
    return lines


def lan_address() -> str | None:
    """This machine's address on the local network (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: routing lookup only
            addr = s.getsockname()[0]
    except OSError:
        try:
            addr = socket.gethostbyname(socket.gethostname())
        except OSError:
            return None
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


# --------------------------------------------------------------- database


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    """Apply migrations up to head."""

    async def run() -> str | None:
        engine = create_engine(settings.db_url)
        try:
            return await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    revision = asyncio.run(run())
    print(f"database {redact_url(settings.db_url)} is at revision {revision}")
    return 0


async def _with_users(settings: Settings, work: Callable[[UserService], Awaitable[T]]) -> T:
    """Run ``work`` with a UserService on a migrated database."""
    engine = create_engine(settings.db_url)
    try:
        await migrate.upgrade(engine)
        return await work(UserService(session_factory(engine)))
    finally:
        await engine.dispose()


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    """Create a user."""
    password = args.password
    if password is None:
        if sys.stdin.isatty():
            password = getpass.getpass(f"password for {args.name}: ")
            if getpass.getpass("again: ") != password:
                print("carertc: the passwords differ", file=sys.stderr)
                return 1
        else:
            password = sys.stdin.readline().rstrip("\r\n")

    async def work(users: UserService) -> User:
        return await users.create(
            args.name, args.role, password, display_name=args.display_name, organisation=args.org
        )

    user = asyncio.run(_with_users(settings, work))
    print(f"created user {user.name} (id {user.id}, role {user.role})")
    return 0


def cmd_user_list(settings: Settings, _args: argparse.Namespace) -> int:
    """List users, one per line."""

    async def work(users: UserService) -> list[User]:
        return await users.list_users()

    for user in asyncio.run(_with_users(settings, work)):
        state = "disabled" if user.disabled else "active"
        print(f"{user.name}\t{user.role}\t{state}\t{user.id}\t{user.display_name}")
    return 0


def cmd_user_disable(settings: Settings, args: argparse.Namespace) -> int:
    """Disable or re-enable a user by name."""

    async def work(users: UserService) -> User:
        user = await users.get_by_name(args.name)
        if user is None:
            raise AccountError("user_not_found", f"no user named {args.name!r}")
        return await users.set_disabled(user.id, args.disabled)

    user = asyncio.run(_with_users(settings, work))
    print(f"{'disabled' if user.disabled else 'enabled'} user {user.name}")
    return 0


async def _with_orgs(
    settings: Settings, work: Callable[[UserService, OrgService], Awaitable[T]]
) -> T:
    """Run ``work`` with a UserService and an OrgService on a migrated database."""
    from accounts.orgs import OrgService

    engine = create_engine(settings.db_url)
    try:
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        return await work(UserService(sessions), OrgService(sessions))
    finally:
        await engine.dispose()


def cmd_org_add(settings: Settings, args: argparse.Namespace) -> int:
    """Create an organisation."""

    async def work(_users: UserService, orgs: OrgService) -> Organisation:
        return await orgs.create(args.name, args.kind)

    org = asyncio.run(_with_orgs(settings, work))
    print(f"created organisation {org.name} (id {org.id}, kind {org.kind})")
    return 0


def cmd_org_list(settings: Settings, _args: argparse.Namespace) -> int:
    """List organisations, one per line."""

    async def work(_users: UserService, orgs: OrgService) -> list[Organisation]:
        return await orgs.list_orgs()

    for org in asyncio.run(_with_orgs(settings, work)):
        print(f"{org.name}\t{org.kind}\t{org.id}")
    return 0


def cmd_org_member(settings: Settings, args: argparse.Namespace) -> int:
    """Add a user to an organisation with a role, or change the role and duty-desk flag."""

    async def work(users: UserService, orgs: OrgService) -> tuple[Organisation, User, bool]:
        org = await orgs.find(args.org)
        user = await users.get_by_name(args.user)
        if user is None:
            raise AccountError("user_not_found", f"no user named {args.user!r}")
        if await orgs.membership(org.id, user.id) is None:
            await orgs.add_member(org.id, user.id, args.role, duty_desk=args.duty_desk)
            return org, user, True
        await orgs.update_member(org.id, user.id, role=args.role, duty_desk=args.duty_desk)
        return org, user, False

    org, user, added = asyncio.run(_with_orgs(settings, work))
    desk = ", duty desk" if args.duty_desk else ""
    verb = "added" if added else "updated"
    print(f"{verb} {user.name} in {org.name} as {args.role}{desk}")
    return 0


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    """Print a JWT for an existing, active user."""
    if args.room is not None and not ROOM_ID_RE.fullmatch(args.room):
        print("carertc: --room must match ^[A-Za-z0-9_-]{1,64}$", file=sys.stderr)
        return 2
    ttl = args.ttl if args.ttl is not None else settings.auth.token_ttl_seconds
    if ttl <= 0:
        print("carertc: --ttl must be positive", file=sys.stderr)
        return 2

    async def work(users: UserService) -> User | None:
        return await users.get_by_name(args.user)

    user = asyncio.run(_with_users(settings, work))
    if user is None:
        raise AccountError("user_not_found", f"no user named {args.user!r}")
    if user.disabled:
        print(f"carertc: user {user.name} is disabled", file=sys.stderr)
        return 1
    tokens = TokenService(settings.auth.jwt_secret, settings.auth.issuer, settings.auth.audience)
    print(
        tokens.issue(
            user_id=user.id,
            name=user.display_name,
            role=user.role,
            org=user.organisation,
            room=args.room,
            ttl_seconds=ttl,
        )
    )
    return 0


# -------------------------------------------------------------- messaging


async def _with_im_store(
    settings: Settings,
    work: Callable[[async_sessionmaker[AsyncSession], AttachmentService], Awaitable[T]],
) -> T:
    """Run ``work(sessions, attachment_files)`` on a migrated database."""
    from im import ImService
    from im.attachments import AttachmentService

    engine = create_engine(settings.db_url)
    try:
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        files = AttachmentService.from_settings(
            ImService(engine, sessions), settings.data_dir / "attachments", settings.im
        )
        return await work(sessions, files)
    finally:
        await engine.dispose()


def cmd_im_purge(settings: Settings, _args: argparse.Namespace) -> int:
    """Run message retention once; print what was deleted."""
    from im.retention import PurgeResult, RetentionService, retention_days

    async def work(
        sessions: async_sessionmaker[AsyncSession], files: AttachmentService
    ) -> PurgeResult:
        service = RetentionService(sessions, retention_days(settings.im), files)
        return await service.purge()

    result = asyncio.run(_with_im_store(settings, work))
    if not result.messages:
        print("retention is off (every CARERTC_IM_RETENTION_DAYS_* is 0): nothing deleted")
        return 0
    for kind, count in result.messages.items():
        print(f"{kind}: deleted {count} messages, {result.attachments[kind]} attachments")
    if result.files_failed:
        print(
            f"carertc: {result.files_failed} attachment files could not be deleted", file=sys.stderr
        )
        return 1
    return 0


def cmd_im_export(settings: Settings, args: argparse.Namespace) -> int:
    """Write a conversation (JSON and attachment files) to a ZIP file."""
    from im.errors import ImError
    from im.export import ConversationExporter, ExportSummary

    out = Path(args.out)
    part = out.with_name(out.name + ".part")

    async def work(
        sessions: async_sessionmaker[AsyncSession], files: AttachmentService
    ) -> ExportSummary:
        exporter = ConversationExporter(sessions, files, settings.data_dir / "tmp",
                                        vault_key=settings.recording.key_bytes)
        by = {"user_id": None, "name": "carertc im export"}
        return await exporter.write_zip(args.conversation_id, part, by)

    try:
        summary = asyncio.run(_with_im_store(settings, work))
    except ImError as exc:
        part.unlink(missing_ok=True)
        print(f"carertc: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(out)
    print(
        f"exported conversation {args.conversation_id}: {summary.messages} messages, "
        f"{summary.attachments} attachment files, {summary.size} bytes -> {out}"
    )
    return 0


# -------------------------------------------------------------- recording


def cmd_recording_purge(settings: Settings, _args: argparse.Namespace) -> int:
    """Run recording retention once; print what was deleted."""
    from recording.audit import AuditLog
    from recording.catalog import RecordingCatalog
    from recording.paths import recordings_dir
    from recording.retention import RecordingPurge, RecordingRetention

    days = settings.recording.retention_days
    if days <= 0:
        print("retention is off (CARERTC_RECORDING_RETENTION_DAYS is 0): nothing deleted")
        return 0

    async def run() -> RecordingPurge:
        engine = create_engine(settings.db_url)
        try:
            await migrate.upgrade(engine)
            sessions = session_factory(engine)
            retention = RecordingRetention(
                RecordingCatalog(sessions), AuditLog(sessions), recordings_dir(settings), days
            )
            return await retention.purge()
        finally:
            await engine.dispose()

    result = asyncio.run(run())
    print(f"deleted {result.deleted} recordings older than {days} days")
    if result.failed:
        print(f"carertc: {result.failed} recordings could not be deleted", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
