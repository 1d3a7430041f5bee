"""OpenAPI paths of messaging: conversations, messages, read receipts, recall and edit."""

from __future__ import annotations

from api.openapi.common import (
    DATETIME,
    ID,
    ID_PATTERN,
    OPT_DATETIME,
    URL_OR_PATH,
    Json,
    array,
    boolean,
    enum,
    integer,
    json_body,
    nullable,
    obj,
    ok,
    operation,
    path_param,
    query_param,
    ref,
    string,
)

TAG = "messaging"
CLIENT_TYPES = ("text", "image", "file", "audio", "video", "card")
MESSAGE_TYPES = (*CLIENT_TYPES, "system")
CARD_TYPES = ("document", "audio", "video", "questionnaire", "link")
ATTACHMENT_KINDS = ("image", "file", "audio", "video")
SEQ = integer(minimum=0, maximum=2**62)
IM_ID = string(pattern=ID_PATTERN)

CID = path_param("cid", "Conversation id.", IM_ID)
MID = path_param("mid", "Message id.", IM_ID)

SCHEMAS: Json = {
    "Message": obj(
        {
            "id": ID,
            "conversation_id": ID,
            "seq": integer(minimum=1),
            "sender_id": nullable(string()),
            "sender_name": string(),
            "client_msg_id": nullable(string()),
            "type": enum(MESSAGE_TYPES),
            "body": string(),
            "payload": {"type": "object"},
            "created_at": DATETIME,
            "edited_at": OPT_DATETIME,
            "recalled": boolean(),
            "recalled_by": nullable(string()),
        },
        [
            "id", "conversation_id", "seq", "sender_id", "sender_name", "client_msg_id",
            "type", "body", "payload", "created_at", "edited_at", "recalled", "recalled_by",
        ],
        description="A stored message (a recalled one is a tombstone: empty body and payload).",
    ),
    "Conversation": obj(
        {
            "id": ID,
            "kind": enum(["direct", "group"]),
            "title": nullable(string()),
            "room_id": nullable(string()),
            "members": array(
                obj(
                    {
                        "user_id": ID,
                        "name": string(),
                        "role": enum(["owner", "member"]),
                        "read_seq": integer(minimum=0),
                    },
                    ["user_id", "name", "role", "read_seq"],
                )
            ),
            "last_seq": integer(minimum=0),
            "read_seq": integer(minimum=0),
            "unread": integer(minimum=0),
            "last_message": nullable(ref("Message")),
            "created_at": DATETIME,
        },
        [
            "id", "kind", "title", "room_id", "members", "last_seq", "read_seq", "unread",
            "last_message", "created_at",
        ],
    ),
    "SendAck": obj(
        {
            "id": ID,
            "seq": integer(minimum=1),
            "created_at": DATETIME,
            "duplicate": boolean(description="true when this client_msg_id was already stored"),
        },
        ["id", "seq", "created_at", "duplicate"],
    ),
}


def send_body(max_text_length: int) -> Json:
    """The body of a send (``im:send`` without ``conversation_id``)."""
    return obj(
        {
            "client_msg_id": string(
                pattern=ID_PATTERN, description="unique per sender; a resend returns the original"
            ),
            "type": enum(CLIENT_TYPES, default="text"),
            "body": nullable(
                string(
                    maxLength=max_text_length,
                    description="text (required and not blank for `text`), or a caption",
                )
            ),
            "payload": nullable(
                obj(
                    {
                        "attachment_id": string(pattern=ID_PATTERN),
                        "card_type": enum(CARD_TYPES),
                        "title": string(maxLength=200),
                        "description": string(maxLength=2000),
                        "url": URL_OR_PATH,
                    },
                    description=(
                        "`{attachment_id}` for image/file/audio/video; "
                        "`{card_type, title, description?, url?}` for a card"
                    ),
                )
            ),
        },
        ["client_msg_id"],
    )


def paths(max_text_length: int) -> dict[str, Json]:
    """Path items of this area."""
    conv = ok(ref("Conversation"))
    message = ok(ref("Message"))
    return {
        "/api/v1/conversations": {
            "get": operation(
                "listConversations",
                "The caller's conversations with unread counts",
                tag=TAG,
                responses={200: ok(obj({"conversations": array(ref("Conversation"))},
                                       ["conversations"]))},
            ),
            "post": operation(
                "createConversation",
                "Start a direct or group conversation",
                tag=TAG,
                description="A direct conversation between the same two people is returned, "
                "not duplicated. Only staff start group conversations.",
                body=json_body(
                    obj(
                        {
                            "kind": enum(["direct", "group"], default="group"),
                            "members": array(string(), maxItems=500),
                            "title": nullable(string(maxLength=200)),
                        }
                    )
                ),
                responses={201: conv},
                errors={403: ["not_allowed"], 404: ["user_not_found"]},
            ),
        },
        "/api/v1/conversations/{cid}": {
            "get": operation(
                "getConversation",
                "One conversation (members only)",
                tag=TAG,
                params=[CID],
                responses={200: conv},
                errors={400: ["bad_request"], 404: ["conversation_not_found"]},
            )
        },
        "/api/v1/conversations/{cid}/members": {
            "post": operation(
                "addConversationMember",
                "Add a member to a group conversation (owner or admin)",
                tag=TAG,
                params=[CID],
                body=json_body(obj({"user_id": string(pattern=ID_PATTERN)}, ["user_id"])),
                responses={200: conv},
                errors={
                    403: ["not_allowed"],
                    404: ["conversation_not_found", "user_not_found"],
                },
            )
        },
        "/api/v1/conversations/{cid}/members/{uid}": {
            "delete": operation(
                "removeConversationMember",
                "Remove a member (owner or admin), or leave",
                tag=TAG,
                params=[CID, path_param("uid", "User id.", IM_ID)],
                responses={200: ok(obj({"ok": boolean()}, ["ok"]))},
                errors={
                    400: ["bad_request"],
                    403: ["not_allowed"],
                    404: ["conversation_not_found", "user_not_found"],
                },
            )
        },
        "/api/v1/conversations/{cid}/messages": {
            "get": operation(
                "listMessages",
                "Catch up (`since_seq`) or page back through history (`before_seq`)",
                tag=TAG,
                params=[
                    CID,
                    query_param("since_seq", "Messages after this seq (catch-up).", SEQ),
                    query_param("before_seq", "Messages before this seq (history).", SEQ),
                    query_param("limit", "At most this many (default 200).",
                                integer(minimum=1, maximum=500)),
                ],
                responses={
                    200: ok(
                        obj(
                            {
                                "messages": array(ref("Message")),
                                "last_seq": integer(minimum=0, description="with since_seq"),
                                "has_more": boolean(),
                            },
                            ["messages", "has_more"],
                        ),
                        "Messages in ascending seq order.",
                    )
                },
                errors={400: ["bad_request"], 404: ["conversation_not_found"]},
            ),
            "post": operation(
                "sendMessage",
                "Send a message (idempotent on client_msg_id)",
                tag=TAG,
                params=[CID],
                body=json_body(send_body(max_text_length)),
                responses={
                    200: ok(ref("SendAck"), "A resend: the original message's ack."),
                    201: ok(ref("SendAck"), "Stored."),
                },
                errors={
                    403: ["not_allowed"],
                    404: ["conversation_not_found", "attachment_not_found"],
                    409: ["client_msg_id_conflict"],
                    503: ["unavailable"],
                },
            ),
        },
        "/api/v1/conversations/{cid}/read": {
            "post": operation(
                "markRead",
                "Move the caller's read position forward",
                tag=TAG,
                params=[CID],
                body=json_body(obj({"seq": SEQ}, ["seq"])),
                responses={200: ok(obj({"read_seq": integer(minimum=0)}, ["read_seq"]))},
                errors={404: ["conversation_not_found"]},
            )
        },
        "/api/v1/messages/{mid}": {
            "get": operation(
                "getMessage",
                "One message",
                tag=TAG,
                params=[MID],
                responses={200: message},
                errors={400: ["bad_request"], 404: ["message_not_found"]},
            ),
            "patch": operation(
                "editMessage",
                "Edit a text message (the sender, within the recall window)",
                tag=TAG,
                params=[MID],
                body=json_body(
                    obj({"body": string(minLength=1, maxLength=max_text_length)}, ["body"])
                ),
                responses={200: message},
                errors={
                    403: ["not_allowed", "recall_window_passed"],
                    404: ["message_not_found"],
                    409: ["already_recalled"],
                },
            ),
        },
        "/api/v1/messages/{mid}/recall": {
            "post": operation(
                "recallMessage",
                "Recall (sender, within the window) or remove (owner or admin) a message",
                tag=TAG,
                params=[MID],
                responses={200: message},
                errors={
                    400: ["bad_request"],
                    403: ["not_allowed", "recall_window_passed"],
                    404: ["message_not_found"],
                    409: ["already_recalled"],
                },
            )
        },
        "/api/v1/rooms/{rid}/conversation": {
            "get": operation(
                "roomConversation",
                "The conversation beside a call (created on first use)",
                tag=TAG,
                params=[path_param("rid", "Room id.")],
                responses={200: conv},
                errors={403: ["room_forbidden"]},
            )
        },
    }
