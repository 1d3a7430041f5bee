"""OpenAPI paths of recordings: list/search, details, playback, download, delete, audit log."""

from __future__ import annotations

from api.openapi.common import (
    BEARER,
    DATETIME,
    ID,
    OPT_DATETIME,
    OPT_ID,
    Json,
    array,
    boolean,
    content,
    enum,
    header_param,
    integer,
    nullable,
    number,
    obj,
    ok,
    operation,
    path_param,
    query_param,
    ref,
    string,
)
from api.openapi.meetings import BOUND
from recording.models import (
    ACCESS_ACTIONS,
    CONTAINERS,
    FILE_KINDS,
    MEDIA_KINDS,
    RECORDING_STATUSES,
)

TAG = "recordings"
RID = path_param("recording_id", "Recording id.", string(minLength=1))
FID = path_param("file_id", "File id (from the recording's `files`).", string(minLength=1))
SHORT = string(minLength=1, maxLength=128)
NOT_FOUND = ["recording_not_found"]
MEDIA_TYPES = ("video/webm", "audio/webm", "video/x-matroska", "audio/x-matroska")

SCHEMAS: Json = {
    "RecordingParticipant": obj({"user_id": ID, "name": string()}, ["user_id", "name"]),
    "RecordingFile": obj(
        {
            "id": ID,
            "kind": enum(FILE_KINDS),
            "user_id": OPT_ID,
            "name": string(),
            "source": string(description="camera, microphone, screen... (empty: composite)"),
            "media_kind": enum(MEDIA_KINDS),
            "codec": string(),
            "container": enum(CONTAINERS),
            "content_type": enum(MEDIA_TYPES),
            "started_at": DATETIME,
            "ended_at": OPT_DATETIME,
            "duration_s": nullable(number(minimum=0)),
            "size_bytes": integer(minimum=0, description="plaintext bytes"),
            "status": enum(RECORDING_STATUSES),
            "media_url": string(),
            "download_url": string(),
        },
        ["id", "kind", "user_id", "name", "source", "media_kind", "codec", "container",
         "content_type", "started_at", "ended_at", "duration_s", "size_bytes", "status"],
    ),
    "Recording": obj(
        {
            "id": ID,
            "room_id": string(),
            "org_id": OPT_ID,
            "consult_id": OPT_ID,
            "meeting_id": OPT_ID,
            "title": string(),
            "layout": string(),
            "status": enum(RECORDING_STATUSES),
            "started_by": OPT_ID,
            "started_at": DATETIME,
            "ended_at": OPT_DATETIME,
            "duration_s": nullable(number(minimum=0)),
            "size_bytes": integer(minimum=0),
            "participants": array(ref("RecordingParticipant")),
            "files": array(ref("RecordingFile")),
        },
        ["id", "room_id", "org_id", "consult_id", "meeting_id", "title", "layout", "status",
         "started_by", "started_at", "ended_at", "duration_s", "size_bytes", "participants"],
        description="A recording; `files` only in GET /api/v1/recordings/{recording_id}.",
    ),
    "RecordingAccess": obj(
        {
            "id": integer(),
            "at": DATETIME,
            "action": enum(ACCESS_ACTIONS),
            "user_id": OPT_ID,
            "user_name": string(),
            "role": string(),
            "org_id": OPT_ID,
            "recording_id": OPT_ID,
            "file_id": OPT_ID,
            "range": nullable(string()),
            "ip": nullable(string()),
            "user_agent": nullable(string()),
        },
        ["id", "at", "action", "user_id", "user_name", "role", "org_id", "recording_id",
         "file_id", "range", "ip", "user_agent"],
        description="One access to recordings; `system` (no user id) for retention.",
    ),
}


def _paging(maximum: int, default: int) -> list[Json]:
    return [
        query_param("limit", f"1-{maximum} (default {default}).",
                    integer(minimum=1, maximum=maximum), empty_ok=True),
        query_param("offset", "Skip this many (default 0).",
                    integer(minimum=0, maximum=1_000_000), empty_ok=True),
    ]


def _audit_filters() -> list[Json]:
    return [
        query_param("recording_id", "Only this recording.", SHORT, empty_ok=True),
        query_param("user_id", "Only this user's accesses.", SHORT, empty_ok=True),
        query_param("action", "Only this action.", enum(ACCESS_ACTIONS), empty_ok=True),
        query_param("from", "At or after.", BOUND, empty_ok=True),
        query_param("to", "Before (a date: through that day).", BOUND, empty_ok=True),
    ]


def _media(operation_id: str, summary: str, disposition: str) -> Json:
    binary = {media: string(format="binary") for media in MEDIA_TYPES}
    return operation(
        operation_id,
        summary,
        tag=TAG,
        description=(
            "Decrypted on the fly. `Accept-Ranges: bytes`; one range per request "
            "(other Range forms are ignored and the whole file is sent). "
            f"`Content-Disposition: {disposition}`. Audited: a request without Range or "
            "starting at byte 0 is logged, further ranges of the same file by the same "
            "user at most once per 5 minutes."
        ),
        params=[
            RID, FID,
            query_param("token", "The JWT, for <video>/<audio> sources (the header wins).",
                        string()),
            header_param("Range", "e.g. bytes=0-1023"),
        ],
        security=[*BEARER, {"tokenQuery": []}],
        responses={
            200: content(binary, "The whole file."),
            206: content(binary, "The requested range (Content-Range says which)."),
        },
        errors={
            403: ["permission_denied"],
            404: ["recording_not_found", "recording_file_not_found"],
            416: ["range_not_satisfiable"],
        },
    )


def paths() -> dict[str, Json]:
    """Path items of this area."""
    return {
        "/api/v1/recordings": {
            "get": operation(
                "listRecordings",
                "Recordings of the caller's organisation, newest first (recording.view)",
                tag=TAG,
                description="Audited as `list`. Participants match by user id or by part "
                "of their name.",
                params=[
                    query_param("from", "Started on or after.", BOUND, empty_ok=True),
                    query_param("to", "Started before (a date: through that day).", BOUND,
                                empty_ok=True),
                    query_param("room_id", "Only this room.", SHORT, empty_ok=True),
                    query_param("consult_id", "Only this consult.", SHORT, empty_ok=True),
                    query_param("meeting_id", "Only this meeting.", SHORT, empty_ok=True),
                    query_param("participant", "A participant's user id or part of a name.",
                                string(minLength=1, maxLength=200), empty_ok=True),
                    query_param("status", "Only this status.", enum(RECORDING_STATUSES),
                                empty_ok=True),
                    *_paging(100, 50),
                ],
                responses={200: ok(obj(
                    {"recordings": array(ref("Recording")), "has_more": boolean()},
                    ["recordings", "has_more"],
                ))},
                errors={400: ["bad_request"], 403: ["permission_denied"]},
            )
        },
        "/api/v1/recordings/{recording_id}": {
            "get": operation(
                "getRecording",
                "One recording with its files and participants (recording.view)",
                tag=TAG,
                description="Audited as `list`. A recording of another organisation "
                "answers recording_not_found.",
                params=[RID],
                responses={200: ok(ref("Recording"))},
                errors={403: ["permission_denied"], 404: NOT_FOUND},
            ),
            "delete": operation(
                "deleteRecording",
                "Delete a recording and its files (admins of its organisation)",
                tag=TAG,
                description="Audited as `delete`. `files_removed` is false when a file "
                "could not be removed (the recording stays listed).",
                params=[RID],
                responses={200: ok(obj(
                    {"deleted": boolean(), "files_removed": boolean()},
                    ["deleted", "files_removed"],
                ))},
                errors={403: ["permission_denied"], 404: NOT_FOUND,
                        409: ["recording_in_progress"]},
            ),
        },
        "/api/v1/recordings/{recording_id}/files/{file_id}/media": {
            "get": _media("playRecordingFile", "Play a recording file (Range supported)",
                          "inline"),
        },
        "/api/v1/recordings/{recording_id}/files/{file_id}/download": {
            "get": _media("downloadRecordingFile",
                          "Download a recording file (Range supported)", "attachment"),
        },
        "/api/v1/recordings/audit": {
            "get": operation(
                "recordingAuditLog",
                "Who accessed the organisation's recordings, newest first (admins)",
                tag=TAG,
                params=[*_audit_filters(), *_paging(500, 100)],
                responses={200: ok(obj(
                    {"entries": array(ref("RecordingAccess")), "has_more": boolean()},
                    ["entries", "has_more"],
                ))},
                errors={400: ["bad_request"], 403: ["permission_denied"]},
            )
        },
        "/api/v1/recordings/audit.csv": {
            "get": operation(
                "recordingAuditCsv",
                "The recording access log as CSV (admins); the export is audited",
                tag=TAG,
                params=_audit_filters(),
                responses={200: content({"text/csv": string()}, "One header line, then one "
                                        "line per entry, newest first.")},
                errors={400: ["bad_request"], 403: ["permission_denied"]},
            )
        },
    }
