"""OpenAPI paths of consults (``/api/v1/consults``)."""

from __future__ import annotations

from api.openapi.common import (
    DATETIME,
    ID,
    OPT_DATETIME,
    TIME_INPUT,
    URL_OR_PATH,
    Json,
    array,
    comma_list,
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
from api.openapi.im import CARD_TYPES
from rooms.consults.models import KINDS, MODES, PARTICIPANT_ROLES, STATUSES

TAG = "consults"
CID = path_param("cid", "Consult id.")
USER_REF = string(
    pattern="^\\s*[A-Za-z0-9_.@+:-]{1,64}\\s*$", description="a user id or a sign-in name"
)
FLOW_ERRORS = {403: ["permission_denied"], 404: ["consult_not_found"], 409: ["bad_state"]}

SCHEMAS: Json = {
    "Consult": obj(
        {
            "id": ID,
            "org_id": nullable(string()),
            "kind": enum(KINDS),
            "status": enum(STATUSES),
            "clinician": ref("Person"),
            "patient": ref("Person"),
            "participants": array(
                obj(
                    {"user_id": ID, "name": string(), "role": enum(PARTICIPANT_ROLES)},
                    ["user_id", "name", "role"],
                )
            ),
            "my_role": nullable(enum(PARTICIPANT_ROLES)),
            "scheduled_at": DATETIME,
            "started_at": OPT_DATETIME,
            "ended_at": OPT_DATETIME,
            "duration_seconds": nullable(number(minimum=0)),
            "current_mode": nullable(enum(MODES)),
            "modes_used": array(enum(MODES)),
            "mode_changes": array(
                obj({"mode": enum(MODES), "at": DATETIME}, ["mode", "at"])
            ),
            "mode_seconds": obj({m: number(minimum=0) for m in MODES}),
            "created_by": ID,
            "created_at": DATETIME,
            "room_id": string(description="participants only"),
            "conversation_id": nullable(string()),
            "summary": nullable(string()),
        },
        [
            "id", "org_id", "kind", "status", "clinician", "patient", "participants",
            "my_role", "scheduled_at", "started_at", "ended_at", "duration_seconds",
            "current_mode", "modes_used", "mode_changes", "mode_seconds", "created_by",
            "created_at",
        ],
        description="A consult; records of consults the caller does not take part in "
        "(statistics) leave out room_id, conversation_id and summary.",
    ),
}


def paths() -> dict[str, Json]:
    """Path items of this area."""
    consult = ok(ref("Consult"))
    mode_body = obj({"mode": enum(MODES)}, ["mode"])
    return {
        "/api/v1/consults": {
            "get": operation(
                "listConsults",
                "The caller's consults (with stats.view also the organisation's)",
                tag=TAG,
                params=[
                    query_param("status", "Comma-separated statuses.", comma_list(STATUSES)),
                    query_param("from", "scheduled_at on or after.", TIME_INPUT, empty_ok=True),
                    query_param("to", "scheduled_at before.", TIME_INPUT, empty_ok=True),
                    query_param("limit", "1-500 (default 100).", integer(minimum=1, maximum=500)),
                    query_param("order", "By scheduled_at (default asc).", enum(["asc", "desc"])),
                ],
                responses={200: ok(obj({"consults": array(ref("Consult"))}, ["consults"]))},
                errors={400: ["bad_request"]},
            ),
            "post": operation(
                "createConsult",
                "Open a consult (consult.start)",
                tag=TAG,
                description="A clinician names the patient; an elder names the clinician; an "
                "admin may name both. `patient_id`/`clinician_id` are accepted too.",
                body=json_body(
                    obj(
                        {
                            "patient": nullable(or_empty(USER_REF)),
                            "clinician": nullable(or_empty(USER_REF)),
                            "kind": nullable(or_empty(enum(KINDS))),
                            "scheduled_at": nullable(or_empty(TIME_INPUT)),
                            "title": nullable(text(200)),
                        }
                    )
                ),
                responses={201: consult},
                errors={403: ["permission_denied"], 404: ["user_not_found"]},
            ),
        },
        "/api/v1/consults/{cid}": {
            "get": operation(
                "getConsult", "One consult (its participants)", tag=TAG, params=[CID],
                responses={200: consult}, errors={404: ["consult_not_found"]},
            )
        },
        "/api/v1/consults/{cid}/start": {
            "post": operation(
                "startConsult",
                "scheduled -> active (the clinician)",
                tag=TAG,
                params=[CID],
                body=json_body(obj({"mode": nullable(enum(MODES))}), required=False),
                responses={200: consult},
                errors=FLOW_ERRORS,
            )
        },
        "/api/v1/consults/{cid}/mode": {
            "post": operation(
                "setConsultMode", "Switch between text, voice and video", tag=TAG,
                params=[CID], body=json_body(mode_body), responses={200: consult},
                errors=FLOW_ERRORS,
            )
        },
        "/api/v1/consults/{cid}/cards": {
            "post": operation(
                "sendConsultCard",
                "Send a card (document, material, questionnaire, link) into the consult's chat",
                tag=TAG,
                params=[CID],
                body=json_body(
                    obj(
                        {
                            "card_type": enum(CARD_TYPES),
                            "title": text(200),
                            "description": string(maxLength=2000),
                            "url": nullable(URL_OR_PATH),
                            "body": string(maxLength=2000),
                            "client_msg_id": nullable(text(64)),
                        },
                        ["card_type", "title"],
                    )
                ),
                responses={
                    200: ok(_card_ack(), "A resend."),
                    201: ok(_card_ack(), "Sent."),
                },
                errors={**FLOW_ERRORS, 409: ["bad_state", "client_msg_id_conflict"],
                        503: ["unavailable"]},
            )
        },
        "/api/v1/consults/{cid}/end": {
            "post": operation(
                "endConsult",
                "active -> ended, with an optional closing note",
                tag=TAG,
                params=[CID],
                body=json_body(obj({"summary": nullable(string(maxLength=10000))}),
                               required=False),
                responses={200: consult},
                errors=FLOW_ERRORS,
            )
        },
        "/api/v1/consults/{cid}/cancel": {
            "post": operation(
                "cancelConsult", "scheduled -> cancelled (the clinician or the patient)",
                tag=TAG, params=[CID], responses={200: consult},
                errors={404: ["consult_not_found"], 409: ["bad_state"]},
            )
        },
    }


def _card_ack() -> Json:
    return {"allOf": [ref("SendAck"), obj({"conversation_id": ID}, ["conversation_id"])]}
