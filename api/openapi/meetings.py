"""OpenAPI paths of remote-support meetings, invite links, guests joining and statistics."""

from __future__ import annotations

from api.openapi.common import (
    BEARER,
    DATETIME,
    ID,
    OPT_DATETIME,
    PUBLIC,
    TIME_INPUT,
    Json,
    array,
    boolean,
    comma_list,
    content,
    enum,
    integer,
    json_body,
    nullable,
    number,
    obj,
    ok,
    operation,
    or_empty,
    path_param,
    query_param,
    ref,
    string,
    text,
)
from rooms.meetings.models import CATEGORIES, RESPONSES, STATUSES

TAG = "meetings"
MID = path_param("mid", "Meeting id.")
INVITE = path_param("invite", "Invite link id or token.")
TOKEN = path_param("token", "Invite token.")
REF = string(pattern="^\\s*[A-Za-z0-9_.@+:-]{1,64}\\s*$", description="user id or sign-in name")
BOUND: Json = {
    "anyOf": [string(format="date", maxLength=10), TIME_INPUT],
    "description": "a date (2026-12-01; `to` includes that day) or an ISO 8601 time",
}
MANAGE_ERRORS = {403: ["permission_denied"], 404: ["meeting_not_found"], 409: ["bad_state"]}


def _totals(**extra: Json) -> Json:
    props = {
        "meetings": integer(minimum=0),
        "participants": integer(minimum=0),
        "total_duration_seconds": integer(minimum=0),
        "average_duration_seconds": number(minimum=0),
        **extra,
    }
    return obj(props, list(props))


SCHEMAS: Json = {
    "Meeting": obj(
        {
            "id": ID,
            "org_id": nullable(string()),
            "host_id": ID,
            "host_name": string(),
            "title": string(),
            "category": enum(CATEGORIES),
            "status": enum(STATUSES),
            "start_at": DATETIME,
            "end_at": DATETIME,
            "started_at": OPT_DATETIME,
            "ended_at": OPT_DATETIME,
            "room_id": string(),
            "conversation_id": nullable(string()),
            "reminder_minutes": nullable(integer(minimum=0, maximum=1440)),
            "created_at": DATETIME,
            "join_path": string(),
            "invitees": array(
                obj(
                    {
                        "user_id": ID,
                        "name": string(),
                        "response": nullable(enum(RESPONSES)),
                        "reminded_at": OPT_DATETIME,
                    },
                    ["user_id", "name", "response", "reminded_at"],
                )
            ),
        },
        [
            "id", "org_id", "host_id", "host_name", "title", "category", "status", "start_at",
            "end_at", "started_at", "ended_at", "room_id", "conversation_id",
            "reminder_minutes", "created_at", "join_path", "invitees",
        ],
    ),
    "MeetingRecord": {
        "allOf": [
            ref("Meeting"),
            obj(
                {
                    "participants": array(
                        obj(
                            {
                                "user_id": nullable(string()),
                                "name": string(),
                                "role": nullable(string()),
                                "guest": boolean(),
                                "joined_at": DATETIME,
                                "left_at": OPT_DATETIME,
                                "seconds": integer(minimum=0),
                                "stays": integer(minimum=1),
                            },
                            ["user_id", "name", "role", "guest", "joined_at", "left_at",
                             "seconds", "stays"],
                        )
                    ),
                    "participant_count": integer(minimum=0),
                    "duration_seconds": integer(minimum=0),
                },
                ["participants", "participant_count", "duration_seconds"],
            ),
        ]
    },
    "InviteLink": obj(
        {
            "id": ID,
            "meeting_id": ID,
            "created_by": ID,
            "created_at": DATETIME,
            "expires_at": DATETIME,
            "revoked_at": OPT_DATETIME,
            "max_uses": nullable(integer(minimum=1, maximum=1000)),
            "uses": integer(minimum=0),
        },
        ["id", "meeting_id", "created_by", "created_at", "expires_at", "revoked_at",
         "max_uses", "uses"],
    ),
    "MeetingStats": _totals(
        org_id=nullable(string()),
        **{"from": OPT_DATETIME, "to": OPT_DATETIME},
        by_category=obj({c: _totals() for c in CATEGORIES}, list(CATEGORIES)),
        by_day=array(_totals(date=string())),
    ),
}


def paths() -> dict[str, Json]:
    """Path items of this area."""
    meeting = ok(ref("Meeting"))
    invite = ok(ref("InviteLink"))
    invitees = array(REF, maxItems=200)
    reminder = nullable(integer(minimum=0, maximum=1440))
    qr_errors = {403: ["permission_denied"], 404: ["meeting_not_found", "invite_not_found"]}
    return {
        "/api/v1/meetings": {
            "get": operation(
                "listMeetings",
                "Service records: meetings with participants and duration, newest first",
                tag=TAG,
                params=[
                    query_param("category", "quick or realtime.", enum(CATEGORIES),
                                empty_ok=True),
                    query_param("from", "Started on or after.", BOUND, empty_ok=True),
                    query_param("to", "Started before (a date: through that day).", BOUND,
                                empty_ok=True),
                    query_param("org_id", "Every meeting of this organisation (stats.view).",
                                string(), empty_ok=True),
                    query_param("status", "Comma-separated statuses.", comma_list(STATUSES)),
                    query_param("scope", "mine (default) or org (stats.view).",
                                enum(["mine", "org"]), empty_ok=True),
                    query_param("held", "1 or true: only meetings that were joined "
                                "(any other value: all).", string()),
                ],
                responses={
                    200: ok(obj({"meetings": array(ref("MeetingRecord"))}, ["meetings"]))
                },
                errors={400: ["bad_request"], 403: ["permission_denied"]},
            ),
            "post": operation(
                "createMeeting",
                "Schedule real-time support, or start quick support now (meeting.schedule)",
                tag=TAG,
                body=json_body(
                    obj(
                        {
                            "title": nullable(string(maxLength=200, description=(
                                "required for realtime; quick: default Quick support"))),
                            "category": enum(CATEGORIES, default="realtime"),
                            "start_at": nullable(or_empty(TIME_INPUT)),
                            "end_at": nullable(or_empty(TIME_INPUT)),
                            "invitees": nullable(invitees),
                            "reminder_minutes": reminder,
                        }
                    ),
                    description="`start_at` is required for realtime; at most 7 days long.",
                ),
                responses={201: meeting},
                errors={403: ["permission_denied"], 404: ["user_not_found"]},
            ),
        },
        "/api/v1/meetings/{mid}": {
            "get": operation(
                "getMeeting", "One meeting (host, invitees, stats.view)", tag=TAG,
                params=[MID], responses={200: meeting}, errors={404: ["meeting_not_found"]},
            ),
            "patch": operation(
                "rescheduleMeeting",
                "Change title, times, invitees or the reminder (host or org admin)",
                tag=TAG,
                params=[MID],
                body=json_body(
                    obj(
                        {
                            "title": text(200),
                            "start_at": TIME_INPUT,
                            "end_at": TIME_INPUT,
                            "invitees": nullable(invitees),
                            "reminder_minutes": reminder,
                        }
                    )
                ),
                responses={200: meeting},
                errors={**MANAGE_ERRORS, 404: ["meeting_not_found", "user_not_found"]},
            ),
        },
        **{
            f"/api/v1/meetings/{{mid}}/{action}": {
                "post": operation(
                    f"{action}Meeting", summary, tag=TAG, params=[MID],
                    responses={200: meeting}, errors=MANAGE_ERRORS,
                )
            }
            for action, summary in (
                ("cancel", "Call off a scheduled meeting"),
                ("start", "Open a scheduled meeting now"),
                ("end", "End a live meeting for everyone"),
            )
        },
        "/api/v1/meetings/{mid}/respond": {
            "post": operation(
                "respondToMeeting",
                "An invitee accepts or declines",
                tag=TAG,
                params=[MID],
                body=json_body(obj({"response": enum(RESPONSES)}, ["response"])),
                responses={200: meeting},
                errors={404: ["meeting_not_found"]},
            )
        },
        "/api/v1/meetings/{mid}/invites": {
            "get": operation(
                "listInvites", "The meeting's invite links (tokens are never shown again)",
                tag=TAG, params=[MID],
                responses={200: ok(obj({"invites": array(ref("InviteLink"))}, ["invites"]))},
                errors={403: ["permission_denied"], 404: ["meeting_not_found"]},
            ),
            "post": operation(
                "createInvite",
                "A new invite link with its token, URL and QR codes (host or org admin)",
                tag=TAG,
                params=[MID],
                body=json_body(
                    obj(
                        {
                            "expires_in_seconds": integer(minimum=60, maximum=2592000,
                                                          default=86400),
                            "expires_at": nullable(TIME_INPUT),
                            "max_uses": nullable(integer(minimum=1, maximum=1000)),
                        }
                    )
                ),
                responses={
                    201: ok(
                        obj(
                            {
                                "invite": ref("InviteLink"),
                                "token": string(),
                                "url": string(),
                                "qr_png": string(),
                                "qr_svg": string(),
                            },
                            ["invite", "token", "url", "qr_png", "qr_svg"],
                        )
                    )
                },
                errors=MANAGE_ERRORS,
            ),
        },
        "/api/v1/meetings/{mid}/invites/{invite}": {
            "delete": operation(
                "revokeInvite", "Revoke a link (by id or token)", tag=TAG,
                params=[MID, INVITE], responses={200: invite}, errors=qr_errors,
            )
        },
        "/api/v1/meetings/{mid}/invites/{invite}/revoke": {
            "post": operation(
                "revokeInvitePost", "Revoke a link (by id or token)", tag=TAG,
                params=[MID, INVITE], responses={200: invite}, errors=qr_errors,
            )
        },
        "/api/v1/meetings/{mid}/invites/{invite}/qr.png": {
            "get": operation(
                "inviteQrPng", "The link as a PNG QR code (give the token)", tag=TAG,
                params=[MID, INVITE],
                responses={200: content({"image/png": string(format="binary")}, "PNG.")},
                errors=qr_errors,
            )
        },
        "/api/v1/meetings/{mid}/invites/{invite}/qr.svg": {
            "get": operation(
                "inviteQrSvg", "The link as an SVG QR code (give the token)", tag=TAG,
                params=[MID, INVITE],
                responses={200: content({"image/svg+xml": string()}, "SVG.")},
                errors=qr_errors,
            )
        },
        "/api/v1/invites/{token}": {
            "get": operation(
                "describeInvite",
                "What a guest sees before joining (no sign-in)",
                tag=TAG,
                params=[TOKEN],
                security=PUBLIC,
                responses={
                    200: ok(
                        obj(
                            {
                                "meeting": obj(
                                    {
                                        "id": ID,
                                        "title": string(),
                                        "category": enum(CATEGORIES),
                                        "status": enum(STATUSES),
                                        "start_at": DATETIME,
                                        "end_at": DATETIME,
                                        "host_name": string(),
                                    },
                                    ["id", "title", "category", "status", "start_at",
                                     "end_at", "host_name"],
                                ),
                                "expires_at": DATETIME,
                            },
                            ["meeting", "expires_at"],
                        )
                    )
                },
                errors={404: ["invite_not_found"], 410: ["invite_invalid"]},
            )
        },
        "/api/v1/invites/{token}/join": {
            "post": operation(
                "joinAsGuest",
                "Join a meeting as a guest: a 4-hour token for its room",
                tag=TAG,
                description="At most 30 joins per client address per 10 minutes.",
                params=[TOKEN],
                security=PUBLIC,
                body=json_body(obj({"name": text(64)}, ["name"])),
                responses={
                    201: ok(
                        obj(
                            {
                                "token": string(),
                                "expires_in": integer(),
                                "room_id": string(),
                                "meeting_id": ID,
                                "join_path": string(),
                                "user": ref("User"),
                            },
                            ["token", "expires_in", "room_id", "meeting_id", "join_path",
                             "user"],
                        )
                    )
                },
                errors={
                    404: ["invite_not_found"],
                    410: ["invite_invalid"],
                    429: ["too_many_requests"],
                },
            )
        },
        "/api/v1/stats/meetings": {
            "get": operation(
                "meetingStats",
                "Statistics of meetings held in a period (stats.view), as JSON or CSV",
                tag=TAG,
                params=[
                    query_param("org_id", "Default: the token's organisation.", string(),
                                empty_ok=True),
                    query_param("from", "Period start.", BOUND, empty_ok=True),
                    query_param("to", "Period end.", BOUND, empty_ok=True),
                    query_param("format", "json (default) or csv.", enum(["json", "csv"]),
                                empty_ok=True),
                ],
                security=BEARER,
                responses={
                    200: content(
                        {"application/json": ref("MeetingStats"), "text/csv": string()},
                        "Totals, by category and by day; or one CSV row per meeting.",
                    )
                },
                errors={400: ["bad_request"], 403: ["permission_denied"]},
            )
        },
    }
