"""OpenAPI paths of signing in, ``/me``, the operations routes and the document itself."""

from __future__ import annotations

from api.openapi.common import (
    PUBLIC,
    Json,
    array,
    boolean,
    content,
    enum,
    integer,
    json_body,
    nullable,
    obj,
    ok,
    operation,
    ref,
    string,
    text,
)

TAG = "auth"
OPS = "operations"

SCHEMAS: Json = {
    "LoginResult": obj(
        {
            "token": string(description="JWT for the Authorization header"),
            "user": ref("User"),
            "org": nullable(string()),
            "role": string(),
            "global_admin": boolean(),
            "memberships": array(ref("Membership")),
        },
        ["token", "user", "org", "role", "global_admin", "memberships"],
    ),
    "SwitchResult": obj(
        {
            "token": string(),
            "user": ref("User"),
            "org": string(),
            "organisation": ref("Organisation"),
            "role": string(),
        },
        ["token", "user", "org", "organisation", "role"],
    ),
    "Me": obj(
        {
            "user": ref("User"),
            "session": obj(
                {
                    "room": nullable(string()),
                    "expires_at": integer(description="Unix time the token expires"),
                    "org": nullable(string()),
                    "role": string(),
                },
                ["room", "expires_at", "org", "role"],
            ),
            "global_admin": boolean(),
            "memberships": array(ref("Membership")),
        },
        ["user", "session", "global_admin", "memberships"],
    ),
}


def paths() -> dict[str, Json]:
    """Path items of this area."""
    return {
        "/api/v1/auth/login": {
            "post": operation(
                "login",
                "Sign in with a name and password",
                tag=TAG,
                security=PUBLIC,
                description=(
                    "Acts for the user's first membership. Ten failed sign-ins per client "
                    "address or account name within five minutes answer 429 with Retry-After."
                ),
                body=json_body(
                    obj(
                        {"name": text(64), "password": text(1024)},
                        ["name", "password"],
                    )
                ),
                responses={200: ok(ref("LoginResult"))},
                errors={
                    401: ["bad_credentials"],
                    403: ["user_disabled"],
                    429: ["too_many_requests"],
                },
            )
        },
        "/api/v1/auth/switch": {
            "post": operation(
                "switchOrganisation",
                "A token acting for another of the user's organisations",
                tag=TAG,
                body=json_body(obj({"org_id": text(64)}, ["org_id"])),
                responses={200: ok(ref("SwitchResult"))},
                errors={403: ["permission_denied"], 404: ["org_not_found"]},
            )
        },
        "/api/v1/me": {
            "get": operation(
                "me",
                "The signed-in user, what the token grants, and the user's memberships",
                tag=TAG,
                responses={200: ok(ref("Me"))},
            )
        },
        "/api/v1/openapi.json": {
            "get": operation(
                "openapi",
                "This document",
                tag=OPS,
                security=PUBLIC,
                responses={200: ok({"type": "object"}, "The OpenAPI 3.1 document.")},
            )
        },
        "/health": {
            "get": operation(
                "health",
                "Liveness: the process is up",
                tag=OPS,
                security=PUBLIC,
                responses={200: ok(obj({"status": enum(["ok"])}, ["status"]))},
            )
        },
        "/ready": {
            "get": operation(
                "ready",
                "Readiness: the database answers",
                tag=OPS,
                security=PUBLIC,
                responses={
                    200: ok(obj({"status": enum(["ready"])}, ["status"])),
                    503: ok(
                        obj(
                            {
                                "status": enum(["unavailable"]),
                                "error": obj(
                                    {"code": enum(["db_unavailable"]), "message": string()},
                                    ["code", "message"],
                                ),
                            },
                            ["status", "error"],
                        ),
                        "The database does not answer (`db_unavailable`).",
                    ),
                },
            )
        },
        "/metrics": {
            "get": operation(
                "metrics",
                "Prometheus metrics (text exposition format)",
                tag=OPS,
                security=PUBLIC,
                responses={200: content({"text/plain": string()}, "The current metrics.")},
            )
        },
    }
