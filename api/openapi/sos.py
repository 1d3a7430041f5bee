"""OpenAPI paths of the one-tap SOS, organisation API keys and webhooks."""

from __future__ import annotations

from api.openapi.common import (
    BEARER,
    DATETIME,
    ID,
    OPT_DATETIME,
    TIME_INPUT,
    Json,
    array,
    boolean,
    enum,
    integer,
    json_body,
    no_content,
    nullable,
    number,
    obj,
    ok,
    operation,
    path_param,
    query_param,
    ref,
    string,
    text,
)
from api.openapi.orgs import ORG_ERRORS, ORG_ID
from rooms.sos.models import SOS_KINDS, SOS_SOURCES, SOS_STATUSES
from rooms.sos.validation import DEVICE_KINDS, WEBHOOK_EVENTS

TAG = "sos"
INTEGRATIONS = "integrations"
API_KEY: list[Json] = [{"apiKeyAuth": []}]
SOS_ID = path_param("sos_id", "SOS id.", string(pattern="^[A-Za-z0-9_-]{1,64}$"))
NOT_FOUND = {404: ["sos_not_found"]}

LOCATION = obj(
    {
        "lat": number(minimum=-90, maximum=90),
        "lon": number(minimum=-180, maximum=180),
        "address": nullable(text(300)),
        "accuracy_m": nullable(number(minimum=0, maximum=100000)),
    },
    ["lat", "lon"],
    additionalProperties=False,
)
VITALS = obj(
    {
        "heart_rate": integer(minimum=0, maximum=300),
        "spo2": number(minimum=0, maximum=100),
        "temperature": number(minimum=25, maximum=45),
        "respiratory_rate": integer(minimum=0, maximum=120),
        "glucose": number(minimum=0, maximum=60),
        "systolic": integer(minimum=0, maximum=300),
        "diastolic": integer(minimum=0, maximum=300),
        "bp": string(pattern="^[0-9]{2,3}/[0-9]{2,3}$"),
    },
    maxProperties=16,
    propertyNames={"pattern": "^[a-z][a-z0-9_]{0,31}$"},
    additionalProperties={
        "anyOf": [number(minimum=-1e6, maximum=1e6), text(64)],
    },
    description="Readings; other lower-case names take a number or a short text.",
)

SCHEMAS: Json = {
    "Sos": obj(
        {
            "id": ID,
            "org_id": nullable(string()),
            "elder": ref("Person"),
            "source": enum(SOS_SOURCES),
            "kind": enum(SOS_KINDS),
            "device_id": nullable(string()),
            "status": enum(SOS_STATUSES),
            "step": integer(minimum=0),
            "location": nullable({"type": "object"}),
            "vitals": nullable({"type": "object"}),
            "room_id": string(),
            "answered_by": nullable(ref("Person")),
            "answered_at": OPT_DATETIME,
            "created_at": DATETIME,
            "ended_at": OPT_DATETIME,
            "end_reason": nullable(string()),
        },
        [
            "id", "org_id", "elder", "source", "kind", "device_id", "status", "step",
            "location", "vitals", "room_id", "answered_by", "answered_at", "created_at",
            "ended_at", "end_reason",
        ],
    ),
    "SosEvent": obj(
        {
            "id": integer(),
            "sos_id": ID,
            "kind": string(),
            "at": DATETIME,
            "user": nullable(ref("Person")),
            "data": {"type": "object"},
        },
        ["id", "sos_id", "kind", "at", "user", "data"],
    ),
    "ApiKey": obj(
        {
            "id": ID,
            "org_id": ID,
            "name": string(),
            "prefix": string(),
            "created_at": DATETIME,
            "last_used_at": OPT_DATETIME,
            "revoked": boolean(),
        },
        ["id", "org_id", "name", "prefix", "created_at", "last_used_at", "revoked"],
    ),
    "Webhook": obj(
        {
            "id": ID,
            "org_id": ID,
            "url": string(),
            "events": array(string()),
            "active": boolean(),
            "created_at": DATETIME,
        },
        ["id", "org_id", "url", "events", "active", "created_at"],
    ),
    "WebhookDelivery": obj(
        {
            "id": ID,
            "webhook_id": ID,
            "sos_id": nullable(string()),
            "event": string(),
            "status": enum(["pending", "sent", "failed"]),
            "attempts": integer(minimum=0),
            "response_status": nullable(integer()),
            "error": nullable(string()),
            "created_at": DATETIME,
            "finished_at": OPT_DATETIME,
        },
        ["id", "webhook_id", "sos_id", "event", "status", "attempts", "response_status",
         "error", "created_at", "finished_at"],
    ),
}


def _sos_list() -> Json:
    return ok(obj({"sos": array(ref("Sos"))}, ["sos"]))


def _one_sos() -> Json:
    return ok(obj({"sos": ref("Sos")}, ["sos"]))


def paths() -> dict[str, Json]:
    """Path items of this area."""
    raise_body = {
        "anyOf": [
            obj(
                {
                    "location": nullable(LOCATION),
                    "vitals": nullable(VITALS),
                    "kiosk": boolean(default=False),
                },
                description="With an elder's bearer token.",
            ),
            obj(
                {
                    "elder_id": string(pattern="^[A-Za-z0-9_-]{1,64}$"),
                    "kind": enum(DEVICE_KINDS),
                    "device_id": nullable(string(pattern="^[\\x21-\\x7e]{1,128}$")),
                    "location": nullable(LOCATION),
                    "vitals": nullable(VITALS),
                },
                ["elder_id", "kind"],
                description="With an integration's X-Api-Key.",
            ),
        ]
    }
    key_errors = {**ORG_ERRORS, 404: ["org_not_found", "api_key_not_found"]}
    hook_errors = {**ORG_ERRORS, 404: ["org_not_found", "webhook_not_found"]}
    return {
        "/api/v1/sos": {
            "post": operation(
                "raiseSos",
                "Raise an SOS: an elder (bearer, sos.raise) or a device (X-Api-Key)",
                tag=TAG,
                description="A request without Authorization is a device's: without a valid "
                "X-Api-Key it answers 401 `api_key_invalid`.",
                security=[*BEARER, *API_KEY],
                body=json_body(raise_body),
                responses={201: _one_sos()},
                errors={401: ["api_key_invalid"], 403: ["permission_denied"]},
            ),
            "get": operation(
                "searchSos",
                "The SOS log of an organisation (sos.log), or the caller's own",
                tag=TAG,
                params=[
                    query_param("org_id", "The organisation's log (sos.log).", string(),
                                empty_ok=True),
                    query_param("from", "Raised at or after.", TIME_INPUT, empty_ok=True),
                    query_param("to", "Raised before.", TIME_INPUT, empty_ok=True),
                    query_param("limit", "1-1000 (default 200).",
                                integer(minimum=1, maximum=1000)),
                    query_param("include", "`events` adds each SOS's steps "
                                "(any other value: nothing).", string()),
                ],
                responses={200: _sos_list()},
                errors=ORG_ERRORS,
            ),
        },
        "/api/v1/sos/active": {
            "get": operation(
                "activeSos", "Live SOS alerts the caller raised or is rung by", tag=TAG,
                responses={200: _sos_list()},
            )
        },
        "/api/v1/sos/kiosk-tokens": {
            "post": operation(
                "createKioskToken",
                "A long-lived token for an elder's kiosk (care.manage)",
                tag=TAG,
                body=json_body(obj({"elder_id": string(pattern="^[A-Za-z0-9_-]{1,64}$")},
                                   ["elder_id"])),
                responses={
                    201: ok(obj({"token": string(), "url": string()}, ["token", "url"]))
                },
                errors={403: ["permission_denied"], 404: ["user_not_found", "org_not_found"]},
            )
        },
        "/api/v1/sos/{sos_id}": {
            "get": operation(
                "getSos",
                "One SOS with its steps and who it rang",
                tag=TAG,
                params=[SOS_ID],
                responses={
                    200: ok(
                        obj(
                            {
                                "sos": ref("Sos"),
                                "events": array(ref("SosEvent")),
                                "recipients": array(
                                    obj(
                                        {
                                            "user": ref("Person"),
                                            "step": integer(minimum=0),
                                            "relation": nullable(string()),
                                            "rung_at": DATETIME,
                                            "declined_at": OPT_DATETIME,
                                        },
                                        ["user", "step", "relation", "rung_at", "declined_at"],
                                    )
                                ),
                            },
                            ["sos", "events", "recipients"],
                        )
                    )
                },
                errors=NOT_FOUND,
            )
        },
        "/api/v1/sos/{sos_id}/events": {
            "get": operation(
                "sosEvents", "The steps of one SOS", tag=TAG, params=[SOS_ID],
                responses={200: ok(obj({"events": array(ref("SosEvent"))}, ["events"]))},
                errors=NOT_FOUND,
            )
        },
        "/api/v1/sos/{sos_id}/accept": {
            "post": operation(
                "acceptSos",
                "Answer an SOS that rang the caller (the first accept wins)",
                tag=TAG,
                params=[SOS_ID],
                responses={
                    200: ok(obj({"room_id": string(), "sos": ref("Sos")}, ["room_id", "sos"]))
                },
                errors={**NOT_FOUND, 409: ["sos_already_answered", "bad_state"]},
            )
        },
        "/api/v1/sos/{sos_id}/decline": {
            "post": operation(
                "declineSos", "Decline ringing", tag=TAG, params=[SOS_ID],
                responses={
                    200: ok(obj({"ok": boolean(), "status": enum(SOS_STATUSES)},
                                ["ok", "status"]))
                },
                errors=NOT_FOUND,
            )
        },
        "/api/v1/sos/{sos_id}/cancel": {
            "post": operation(
                "cancelSos",
                "The elder (bearer) or the organisation's integration (X-Api-Key) calls it off",
                tag=TAG,
                params=[SOS_ID],
                security=[*BEARER, *API_KEY],
                responses={200: _one_sos()},
                errors={**NOT_FOUND, 401: ["api_key_invalid"], 409: ["bad_state"]},
            )
        },
        "/api/v1/sos/{sos_id}/end": {
            "post": operation(
                "endSos", "End an SOS (the elder, someone rung, the SOS desk)", tag=TAG,
                params=[SOS_ID], responses={200: _one_sos()},
                errors={**NOT_FOUND, 409: ["bad_state"]},
            )
        },
        "/api/v1/orgs/{org_id}/api-keys": {
            "post": operation(
                "createApiKey",
                "A new API key for device integrations (orgs.manage); shown this once",
                tag=INTEGRATIONS,
                params=[ORG_ID],
                body=json_body(obj({"name": text(100, default="integration")}), required=False),
                responses={
                    201: ok({"allOf": [ref("ApiKey"), obj({"key": string()}, ["key"])]})
                },
                errors=ORG_ERRORS,
            ),
            "get": operation(
                "listApiKeys", "The organisation's API keys (never the keys)", tag=INTEGRATIONS,
                params=[ORG_ID],
                responses={200: ok(obj({"api_keys": array(ref("ApiKey"))}, ["api_keys"]))},
                errors=ORG_ERRORS,
            ),
        },
        "/api/v1/orgs/{org_id}/api-keys/{key_id}": {
            "delete": operation(
                "revokeApiKey", "Revoke an API key", tag=INTEGRATIONS,
                params=[ORG_ID, path_param("key_id", "API key id.")],
                responses={204: no_content()}, errors=key_errors,
            )
        },
        "/api/v1/orgs/{org_id}/webhooks": {
            "post": operation(
                "createWebhook",
                "Register an endpoint for SOS events (signed with the secret)",
                tag=INTEGRATIONS,
                params=[ORG_ID],
                body=json_body(
                    obj(
                        {
                            "url": string(maxLength=2048, pattern="^https?://",
                                          description="http(s) URL"),
                            "events": array(enum([*WEBHOOK_EVENTS, "sos.*"]), minItems=1,
                                            maxItems=len(WEBHOOK_EVENTS) + 1),
                            "secret": string(minLength=16, maxLength=256),
                        },
                        ["url", "events", "secret"],
                    )
                ),
                responses={201: ok(ref("Webhook"))},
                errors=ORG_ERRORS,
            ),
            "get": operation(
                "listWebhooks", "The organisation's webhooks", tag=INTEGRATIONS,
                params=[ORG_ID],
                responses={200: ok(obj({"webhooks": array(ref("Webhook"))}, ["webhooks"]))},
                errors=ORG_ERRORS,
            ),
        },
        "/api/v1/orgs/{org_id}/webhooks/{webhook_id}": {
            "delete": operation(
                "deleteWebhook", "Remove a webhook", tag=INTEGRATIONS,
                params=[ORG_ID, path_param("webhook_id", "Webhook id.")],
                responses={204: no_content()}, errors=hook_errors,
            )
        },
        "/api/v1/orgs/{org_id}/webhooks/{webhook_id}/deliveries": {
            "get": operation(
                "webhookDeliveries", "The delivery log of one webhook, newest first",
                tag=INTEGRATIONS,
                params=[ORG_ID, path_param("webhook_id", "Webhook id.")],
                responses={
                    200: ok(obj({"deliveries": array(ref("WebhookDelivery"))}, ["deliveries"]))
                },
                errors=hook_errors,
            )
        },
    }
