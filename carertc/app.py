"""Composition root: build the aiohttp application from :class:`Settings`.

``await build_app(settings)`` does the start-up work that must succeed before
the server accepts connections: it opens the database, applies the Alembic
migrations (upgrade head), creates the first-run admin if configured and
wires every service. It returns an unstarted ``web.Application`` (pass it to
``AppRunner`` or ``web.run_app``); the app's cleanup closes the room service
and disposes of the database engine.

Services are reachable through app keys::

    app[SETTINGS], app[TOKENS], app[USERS], app[ORGS], app[CARE], app[ROOMS], app[IM],
    app[ATTACHMENTS], app[IM_RETENTION], app[ENGINE], app[SESSIONS],
    app[RECORDINGS], app[RECORDING_PLAYBACK], app[RECORDING_RETENTION]
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import socketio
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import media
from accounts.admin import AccountAdmin
from accounts.care import CareContacts
from accounts.errors import UserExists
from accounts.orgs import OrgService
from accounts.service import UserService
from accounts.tokens import TokenService
from api import AuthRoutes, setup_api
from api.accounts_admin import AccountAdminRoutes
from api.attachments import AttachmentRoutes
from api.care_contacts import CareContactRoutes
from api.consults import CONSULTS, setup_consults
from api.errors import error_middleware
from api.im import ImRoutes
from api.im_admin import ImAdminRoutes
from api.meeting_setup import MEETINGS, setup_meetings
from api.openapi import setup_openapi
from api.orgs import OrgRoutes
from api.recordings import RecordingRoutes
from api.sos import SosRoutes
from carertc.config import Settings
from carertc.recording_setup import setup_room_recording
from db import engine as db_engine
from db import migrate
from im import ImService
from im.attachments import AttachmentService
from im.export import ConversationExporter
from im.presence import Presence
from im.presence_redis import RedisPresence
from im.retention import RetentionService, retention_days
from im.search import SearchService
from recording.audit import AuditLog
from recording.catalog import RecordingCatalog
from recording.paths import recording_key, recordings_dir
from recording.playback import RecordingPlayback
from recording.retention import RecordingRetention
from recording.service import RecordingService, node_name
from rooms import RoomService
from rooms.chat import RoomChat
from rooms.sos import SosService, Webhooks
from signaling import attach as attach_signaling
from signaling.host import HostSignaling
from signaling.im import ImSignaling
from signaling.server import SIGNALING_KEY
from signaling.sos import SosSignaling
from web import setup_routes as setup_web_routes

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("carertc.settings", Settings)
TOKENS = web.AppKey("carertc.tokens", TokenService)
USERS = web.AppKey("carertc.users", UserService)
ORGS = web.AppKey("carertc.orgs", OrgService)
CARE = web.AppKey("carertc.care", CareContacts)
ROOMS = web.AppKey("carertc.rooms", RoomService)
IM = web.AppKey("carertc.im", ImService)
ATTACHMENTS = web.AppKey("carertc.attachments", AttachmentService)
IM_RETENTION = web.AppKey("carertc.im_retention", RetentionService)
IM_EDGE = web.AppKey("carertc.im_edge", ImSignaling)
SOS = web.AppKey("carertc.sos", SosService)
RECORDINGS = web.AppKey("carertc.recordings", RecordingCatalog)
RECORDING_PLAYBACK = web.AppKey("carertc.recording_playback", RecordingPlayback)
RECORDING_RETENTION = web.AppKey("carertc.recording_retention", RecordingRetention)
ENGINE = web.AppKey("carertc.engine", AsyncEngine)
SESSIONS: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey(
    "carertc.sessions", async_sessionmaker
)

# Request bodies larger than this answer 413 payload_too_large.
CLIENT_MAX_SIZE = 1024 * 1024


async def build_app(settings: Settings) -> web.Application:
    """Migrate the database, wire the services and routes; return the unstarted app."""
    engine = db_engine.create_engine(settings.db_url)
    room_service: RoomService | None = None
    try:
        revision = await migrate.upgrade(engine)
        log.info("database_ready", extra={"revision": revision, "backend": engine.dialect.name})
        sessions = db_engine.session_factory(engine)
        users = UserService(sessions)
        orgs = OrgService(sessions)
        await ensure_admin(users, settings)
        tokens = TokenService(
            settings.auth.jwt_secret, settings.auth.issuer, settings.auth.audience
        )
        room_service = _make_room_service(settings)
        im_service = ImService(
            engine,
            sessions,
            recall_window_seconds=settings.im.recall_window_seconds,
            max_text_length=settings.im.max_text_length,
        )

        app = web.Application(middlewares=[error_middleware], client_max_size=CLIENT_MAX_SIZE)
        app[SETTINGS] = settings
        app[ENGINE] = engine
        app[SESSIONS] = sessions
        app[USERS] = users
        app[ORGS] = orgs
        app[CARE] = CareContacts(sessions, orgs)
        app[TOKENS] = tokens
        app[ROOMS] = room_service
        app[IM] = im_service
        attachments = AttachmentService.from_settings(
            im_service, settings.data_dir / "attachments", settings.im
        )
        app[ATTACHMENTS] = attachments
        im_service.add_recall_hook(attachments.on_recalled)
        room_service.add_listener(RoomChat(im_service))
        app.cleanup_ctx.append(_lifecycle)
        retention = RetentionService(sessions, retention_days(settings.im), attachments)
        app[IM_RETENTION] = retention
        app.cleanup_ctx.append(retention.running)  # stops before _lifecycle closes the db

        auth = setup_api(
            app,
            tokens=tokens,
            users=users,
            token_ttl_seconds=settings.auth.token_ttl_seconds,
            ready_check=lambda: db_engine.ping(engine),
            rooms=room_service,
            media_totals=media.totals,
            im_totals=im_service.totals,
            orgs=orgs,
        )
        OrgRoutes(auth, orgs, users).register(app)
        AccountAdminRoutes(auth, AccountAdmin(sessions, users, orgs)).register(app)
        CareContactRoutes(auth, app[CARE]).register(app)
        attach_signaling(
            app,
            tokens=tokens,
            users=users,
            rooms=room_service,
            client_manager=_client_manager(settings),
        )
        app[IM_EDGE] = ImSignaling(app[SIGNALING_KEY], im_service, _presence(settings))
        app[SOS] = _setup_sos(app, settings, sessions, orgs, im_service, room_service, auth)
        ImRoutes(auth, im_service, room_service).register(app)
        HostSignaling(app[SIGNALING_KEY])
        setup_meetings(
            app,
            auth,
            sessions=sessions,
            tokens=tokens,
            im=im_service,
            rooms=room_service,
            notify=app[SIGNALING_KEY].to_users,
            orgs=orgs,
            public_url=settings.server.public_url,
        )
        setup_consults(
            app,
            auth,
            sessions=sessions,
            im=im_service,
            rooms=room_service,
            notify=app[SIGNALING_KEY].to_users,
            orgs=orgs,
        )
        AttachmentRoutes(auth, attachments).register(app)
        ImAdminRoutes(
            auth,
            SearchService(im_service),
            ConversationExporter(sessions, attachments, settings.data_dir / "tmp",
                                 vault_key=settings.recording.key_bytes),
        ).register(app)
        await _setup_recordings(app, settings, sessions, orgs, auth)
        setup_room_recording(
            app,
            settings,
            rooms=room_service,
            recordings=RecordingService(app[RECORDINGS], settings),
            orgs=orgs,
            im=im_service,
            attachments=attachments,
            consults=app[CONSULTS],
            meetings=app[MEETINGS],
        )
        setup_openapi(app)
        setup_web_routes(app)
    except BaseException:
        await _close(room_service, engine)
        raise
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Log start and stop; on shutdown close the room service, then the database."""
    log.info("app_started")
    yield
    try:
        await app[IM_EDGE].close()
    except Exception:
        log.exception("im_edge_close_failed")
    await _close(app[ROOMS], app[ENGINE], app[IM])
    log.info("app_stopped")


async def _close(
    room_service: RoomService | None, engine: AsyncEngine, im_service: ImService | None = None
) -> None:
    if room_service is not None:
        try:
            await room_service.close()
        except Exception:
            log.exception("rooms_close_failed")
    if im_service is not None:
        try:
            await im_service.close()
        except Exception:
            log.exception("im_close_failed")
    await engine.dispose()


async def ensure_admin(users: UserService, settings: Settings) -> None:
    """Create the configured first-run admin if no user has that name yet."""
    name, password = settings.auth.admin_name, settings.auth.admin_password
    if not name or not password:
        return
    if await users.get_by_name(name) is not None:
        return
    try:
        user = await users.create(name, "admin", password)
    except UserExists:  # another process won the race
        return
    log.info("admin_created", extra={"user_id": user.id})


def _make_room_service(settings: Settings) -> RoomService:
    return RoomService(
        empty_grace_seconds=settings.rooms.empty_grace_seconds,
        max_participants=settings.rooms.max_participants,
        ice_servers=settings.media.ice_servers,
    )


def _setup_sos(
    app: web.Application,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    orgs: OrgService,
    im_service: ImService,
    room_service: RoomService,
    auth: AuthRoutes,
) -> SosService:
    """The one-tap SOS: service, ``sos-`` room rule, Socket.IO events, HTTP routes."""
    sos = SosService(
        sessions,
        ring_timeout_seconds=settings.sos.ring_timeout_seconds,
        im=im_service,
        orgs=orgs,
        webhooks=Webhooks(
            sessions,
            retries=settings.sos.webhook_retries,
            backoff_seconds=settings.sos.webhook_backoff_seconds,
            timeout_seconds=settings.sos.webhook_timeout_seconds,
        ),
    )
    room_service.access.add_rule("sos-", sos.rooms.access)
    room_service.add_listener(sos.rooms.on_room_event)
    SosSignaling(app[SIGNALING_KEY], sos, app[IM_EDGE].presence)
    SosRoutes(auth, sos, app[TOKENS], settings.sos.kiosk_token_ttl_days).register(app)
    app.cleanup_ctx.append(sos.running)
    return sos


async def _setup_recordings(
    app: web.Application,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    orgs: OrgService,
    auth: AuthRoutes,
) -> None:
    """The recording catalog (interrupted recordings recovered), playback, retention, routes."""
    root, key = recordings_dir(settings), recording_key(settings)
    catalog = RecordingCatalog(sessions)
    await catalog.recover_interrupted(root, key, node=node_name(settings))
    audit = AuditLog(sessions)
    app[RECORDINGS] = catalog
    app[RECORDING_PLAYBACK] = RecordingPlayback(catalog, audit, orgs, root, key)
    retention = RecordingRetention(catalog, audit, root, settings.recording.retention_days)
    app[RECORDING_RETENTION] = retention
    app.cleanup_ctx.append(retention.running)  # stops before _lifecycle closes the db
    app.cleanup_ctx.append(catalog.recovering(root, key).running)
    RecordingRoutes(auth, app[RECORDING_PLAYBACK]).register(app)


def _presence(settings: Settings) -> Presence:
    """Presence across nodes through Redis when ``REDIS_URL`` is set; this node's otherwise."""
    return RedisPresence(settings.redis_url) if settings.redis_url else Presence()


def _client_manager(settings: Settings) -> socketio.AsyncManager | None:
    """Socket.IO fan-out through Redis when ``REDIS_URL`` is set; in-memory otherwise."""
    if not settings.redis_url:
        return None
    return socketio.AsyncRedisManager(settings.redis_url, channel="carertc-socketio")
