"""Building blocks of the OpenAPI document: JSON-schema shorthands, parameters, responses.

Every error answer is ``{"error": {"code", "message"}}`` (:data:`ERROR`); each
operation lists, per HTTP status, the stable codes it may answer with, and
:func:`operation` adds the ones every bearer-token route and every JSON-body
route shares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Json = dict[str, Any]

BEARER: list[Json] = [{"bearerAuth": []}]
PUBLIC: list[Json] = []
TOKEN_CODES = ("token_missing", "token_invalid", "token_expired", "token_audience")

ID_PATTERN = "^[A-Za-z0-9_.:-]{1,64}$"  # messaging ids (im/validation.py)


def ref(name: str) -> Json:
    """``{"$ref": "#/components/schemas/<name>"}``."""
    return {"$ref": f"#/components/schemas/{name}"}


def string(**extra: Any) -> Json:
    """A string schema."""
    return {"type": "string", **extra}


def integer(**extra: Any) -> Json:
    """An integer schema."""
    return {"type": "integer", **extra}


def number(**extra: Any) -> Json:
    """A number schema."""
    return {"type": "number", **extra}


def boolean(**extra: Any) -> Json:
    """A boolean schema."""
    return {"type": "boolean", **extra}


def array(items: Json, **extra: Any) -> Json:
    """An array schema."""
    return {"type": "array", "items": items, **extra}


def obj(
    properties: Mapping[str, Json], required: Iterable[str] = (), **extra: Any
) -> Json:
    """An object schema with ``properties`` (``required`` lists the ones always present)."""
    out: Json = {"type": "object", "properties": dict(properties)}
    needed = list(required)
    if needed:
        out["required"] = needed
    out.update(extra)
    return out


def nullable(schema: Json) -> Json:
    """``schema`` or null."""
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema:
        out = {**schema, "type": [kind, "null"]}
        if "enum" in schema:
            out["enum"] = [*schema["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def enum(values: Iterable[str], **extra: Any) -> Json:
    """A string that is one of ``values``."""
    return {"type": "string", "enum": list(values), **extra}


def text(max_length: int, min_length: int = 1, **extra: Any) -> Json:
    """A string of ``min_length`` to ``max_length`` characters."""
    return {"type": "string", "minLength": min_length, "maxLength": max_length, **extra}


DATETIME = string(format="date-time")
OPT_DATETIME = nullable(DATETIME)
ID = string()
OPT_ID = nullable(string())
# An ISO 8601 time with a timezone, as the request validators accept it.
TIME_INPUT = string(
    format="date-time", maxLength=40, description="ISO 8601 time, e.g. 2026-12-01T09:30:00Z"
)

ERROR: Json = obj(
    {
        "error": obj(
            {
                "code": string(description="stable machine-readable code"),
                "message": string(description="human-readable explanation"),
            },
            ["code", "message"],
        )
    },
    ["error"],
    description="Every error: a stable code and a message.",
)


def or_empty(schema: Json) -> Json:
    """``schema``, or an empty string meaning "not given"."""
    return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


def comma_list(values: Iterable[str]) -> Json:
    """Comma-separated ``values`` (empty items are ignored)."""
    word = "(" + "|".join(values) + ")"
    return string(pattern=f"^,*({word}(,+{word})*)?,*$")


URL_OR_PATH = string(
    maxLength=2000,
    pattern="^(https?://[^/?#]+.*|/([^/].*)?)$",
    description="an http(s) URL or a path on this server",
)


def path_param(name: str, description: str, schema: Json | None = None) -> Json:
    """A required path parameter (named as in the aiohttp route)."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or string(minLength=1),
    }


def query_param(
    name: str, description: str, schema: Json, *, required: bool = False, empty_ok: bool = False
) -> Json:
    """A query parameter (``empty_ok``: an empty value counts as leaving it out)."""
    if empty_ok:
        schema = or_empty(schema)
        description += " Empty: as if left out."
    out: Json = {"name": name, "in": "query", "description": description, "schema": schema}
    if required:
        out["required"] = True
    return out


def header_param(name: str, description: str, schema: Json | None = None) -> Json:
    """An optional request header."""
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema or string(),
    }


def json_body(schema: Json, *, required: bool = True, description: str | None = None) -> Json:
    """An ``application/json`` request body."""
    out: Json = {"required": required, "content": {"application/json": {"schema": schema}}}
    if description:
        out["description"] = description
    return out


def ok(schema: Json, description: str = "Success.") -> Json:
    """A JSON success response."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def content(media_types: Mapping[str, Json], description: str) -> Json:
    """A success response with the given media types and schemas."""
    return {
        "description": description,
        "content": {media: {"schema": schema} for media, schema in media_types.items()},
    }


def no_content(description: str = "Done; no body.") -> Json:
    """A 204 response."""
    return {"description": description}


def error_response(codes: Iterable[str], description: str | None = None) -> Json:
    """An error response whose ``error.code`` is one of ``codes``."""
    listed = sorted(set(codes))
    schema = {
        "allOf": [
            ref("Error"),
            obj({"error": obj({"code": enum(listed)})}),
        ]
    }
    return {
        "description": description or "Refused: " + ", ".join(f"`{c}`" for c in listed) + ".",
        "content": {"application/json": {"schema": schema}},
    }


def operation(
    operation_id: str,
    summary: str,
    *,
    tag: str,
    responses: Mapping[int, Json],
    errors: Mapping[int, Iterable[str]] | None = None,
    params: Iterable[Json] = (),
    body: Json | None = None,
    security: list[Json] | None = None,
    description: str | None = None,
) -> Json:
    """One operation; bearer-token routes and JSON-body routes get their shared error codes."""
    sec = BEARER if security is None else security
    codes: dict[int, set[str]] = {status: set(c) for status, c in (errors or {}).items()}
    if any("bearerAuth" in s for s in sec):
        codes.setdefault(401, set()).update(TOKEN_CODES)
        codes.setdefault(403, set()).add("user_disabled")
    if body is not None and "application/json" in body.get("content", {}):
        codes.setdefault(400, set()).add("bad_request")
        codes.setdefault(413, set()).add("payload_too_large")
    params = list(params)
    if any(p["in"] in ("path", "query") for p in params):
        codes.setdefault(400, set()).add("bad_request")  # e.g. NUL in the path or query
    out: Json = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if description:
        out["description"] = description
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = body
    out["security"] = sec
    answers: Json = {str(status): resp for status, resp in sorted(responses.items())}
    for status in sorted(codes):
        answers[str(status)] = error_response(codes[status])
    out["responses"] = answers
    return out


# -- shared records ------------------------------------------------------------------------

ROLE_NAMES = ("admin", "doctor", "nurse", "psychologist", "staff", "family", "elder", "guest")

SCHEMAS: Json = {
    "Error": ERROR,
    "User": obj(
        {
            "id": ID,
            "name": string(),
            "display_name": string(),
            "role": enum(ROLE_NAMES),
            "organisation": nullable(string()),
        },
        ["id", "name", "display_name", "role", "organisation"],
        description="An account as everyone may see it.",
    ),
    "Membership": obj(
        {
            "org_id": ID,
            "name": string(),
            "kind": string(),
            "role": enum(ROLE_NAMES),
            "duty_desk": boolean(),
        },
        ["org_id", "name", "kind", "role", "duty_desk"],
        description="One of a user's organisations and the user's role there.",
    ),
    "Person": obj({"id": ID, "name": string()}, ["id", "name"]),
}
