"""OpenAPI paths of attachments (upload, download, thumbnail), message search and export."""

from __future__ import annotations

from api.openapi.common import (
    BEARER,
    DATETIME,
    ID,
    Json,
    array,
    boolean,
    content,
    enum,
    header_param,
    integer,
    nullable,
    obj,
    ok,
    operation,
    path_param,
    query_param,
    ref,
    string,
)
from api.openapi.im import ATTACHMENT_KINDS, CID, IM_ID, TAG

AID = path_param("aid", "Attachment id.", string(minLength=1))

SCHEMAS: Json = {
    "Attachment": obj(
        {
            "id": ID,
            "conversation_id": ID,
            "filename": string(),
            "content_type": string(),
            "kind": enum(ATTACHMENT_KINDS),
            "size": integer(minimum=1),
            "width": nullable(integer()),
            "height": nullable(integer()),
            "has_thumbnail": boolean(),
            "url": string(),
            "thumbnail_url": nullable(string()),
            "created_at": DATETIME,
        },
        [
            "id", "conversation_id", "filename", "content_type", "kind", "size", "width",
            "height", "has_thumbnail", "url", "thumbnail_url", "created_at",
        ],
    ),
}


def paths() -> dict[str, Json]:
    """Path items of this area."""
    return {
        "/api/v1/conversations/{cid}/attachments": {
            "post": operation(
                "uploadAttachment",
                "Upload a file (raw body, streamed); the type is decided from its bytes",
                tag=TAG,
                params=[
                    CID,
                    query_param("filename", "The file's name (a label).",
                                string(minLength=1, maxLength=1024), required=True),
                    query_param("type", "What kind of upload (default file).",
                                enum(ATTACHMENT_KINDS)),
                ],
                body={
                    "required": True,
                    "content": {"application/octet-stream": {"schema": string(format="binary")}},
                },
                responses={201: ok(ref("Attachment"))},
                errors={
                    400: ["bad_request"],
                    404: ["conversation_not_found"],
                    413: ["payload_too_large"],
                    415: ["unsupported_media_type"],
                    422: ["image_too_large"],
                },
            )
        },
        "/api/v1/attachments/{aid}": {
            "get": operation(
                "downloadAttachment",
                "Download an attachment (Range supported)",
                tag=TAG,
                params=[AID, _token_param(), header_param("Range", "e.g. bytes=0-1023")],
                security=[*BEARER, {"tokenQuery": []}],
                responses=_file_responses("The file, as its detected type."),
                errors={404: ["attachment_not_found"]},
            )
        },
        "/api/v1/attachments/{aid}/thumbnail": {
            "get": operation(
                "downloadThumbnail",
                "The JPEG thumbnail of an image attachment",
                tag=TAG,
                params=[AID, _token_param(), header_param("Range", "e.g. bytes=0-1023")],
                security=[*BEARER, {"tokenQuery": []}],
                responses=_file_responses("The JPEG thumbnail.", "image/jpeg"),
                errors={404: ["attachment_not_found"]},
            )
        },
        "/api/v1/im/search": {
            "get": operation(
                "searchMessages",
                "Full-text search in the caller's conversations, newest first",
                tag=TAG,
                params=[
                    query_param("q", "Every word must match (at most 8 words).",
                                string(minLength=1, maxLength=200), required=True),
                    query_param("conversation_id", "Only this conversation.", IM_ID,
                                empty_ok=True),
                    query_param("limit", "1-100 (default 20).", integer(minimum=1, maximum=100)),
                ],
                responses={
                    200: ok(
                        obj(
                            {
                                "results": array(
                                    obj(
                                        {
                                            "message": ref("Message"),
                                            "conversation_id": ID,
                                            "snippet": string(),
                                        },
                                        ["message", "conversation_id", "snippet"],
                                    )
                                ),
                                "has_more": boolean(),
                            },
                            ["results", "has_more"],
                        )
                    )
                },
                errors={400: ["bad_request"], 404: ["conversation_not_found"]},
            )
        },
        "/api/v1/conversations/{cid}/export": {
            "get": operation(
                "exportConversation",
                "A ZIP of the whole conversation (global administrators only)",
                tag=TAG,
                params=[CID],
                responses={
                    200: content(
                        {"application/zip": string(format="binary")},
                        "conversation.json and the attachments.",
                    )
                },
                errors={
                    400: ["bad_request"],
                    403: ["not_allowed"],
                    404: ["conversation_not_found"],
                },
            )
        },
    }

def _token_param() -> Json:
    return query_param(
        "token", "The JWT, for <img>/<audio>/<video> sources (the header wins).", string()
    )


def _file_responses(description: str, media: str = "*/*") -> dict[int, Json]:
    binary = {media: string(format="binary")}
    return {
        200: content(binary, description),
        206: content(binary, "The requested range (Content-Range says which)."),
        304: {"description": "Not modified (If-None-Match / If-Modified-Since)."},
        416: {"description": "The range cannot be satisfied (Content-Range: bytes */size)."},
    }
