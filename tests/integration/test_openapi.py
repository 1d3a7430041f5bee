"""The OpenAPI document: valid, in step with the registered routes, and true of the running server.

``test_server_conforms_to_document`` fuzzes every operation with schemathesis
(its coverage phase's boundary cases, then positive and negative data drawn
with a fixed seed, bounded per operation) as a global admin, and with a nurse's
token on the seeded records: no answer may be a 5xx, and every answer must
match the documented status codes, content types and schemas, and invalid
input must be refused. Path parameters are generated, and in a second pass
taken from real records made beforehand (an organisation, a conversation with
a message and an attachment, a consult, a meeting with an invite link, an
SOS...), so that request bodies reach the validators behind the look-ups. No
operation is left out: the upload is fuzzed too (random bytes, answered 201,
400 or 415), and deleting an organisation only with generated ids (the seeded
one must outlive the run). ``test_edge_inputs_answer_bad_request`` keeps the
inputs that once answered 500."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

from api.openapi import OPENAPI_PATH, build_document
from carertc.app import SOS
from tests.conftest import RunningServer
from tests.support.admin_api import BACKENDS, start_on
from tests.support.openapi_fuzz import FuzzPlan, Seeds, fuzz

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
OPS_ROUTES = ("/health", "/ready", "/metrics")


async def fetch_document(server: RunningServer) -> dict[str, Any]:
    """``GET /api/v1/openapi.json`` without any credentials."""
    async with aiohttp.ClientSession() as http, http.get(server.url + OPENAPI_PATH) as res:
        assert res.status == 200, await res.text()
        assert res.content_type == "application/json"
        return dict(await res.json())


async def test_document_is_valid_openapi_and_public(server: RunningServer) -> None:
    """The served document is valid OpenAPI 3.1 and equals ``build_document(app)``."""
    document = await fetch_document(server)
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert document == build_document(server.app)
    limit = server.settings.im.max_text_length
    send = document["paths"]["/api/v1/conversations/{cid}/messages"]["post"]
    body = send["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["body"]["maxLength"] == limit


def registered_routes(server: RunningServer) -> set[tuple[str, str]]:
    """(method, canonical path) of every API route the app registered."""
    out: set[tuple[str, str]] = set()
    for route in server.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if not (path.startswith("/api/v1/") or path in OPS_ROUTES):
            continue
        if route.method == "HEAD":  # aiohttp adds HEAD beside every GET
            continue
        out.add((route.method, path))
    return out


async def test_document_names_exactly_the_registered_routes(server: RunningServer) -> None:
    """Every route under /api/v1 is documented and every documented operation exists."""
    document = await fetch_document(server)
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }
    registered = registered_routes(server)
    assert registered - documented == set(), "routes missing from the document"
    assert documented - registered == set(), "documented operations the app does not have"
    ids = [
        op["operationId"]
        for item in document["paths"].values()
        for method, op in item.items()
        if method in METHODS
    ]
    assert len(ids) == len(set(ids)), "operationIds must be unique"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", BACKENDS)
async def test_server_conforms_to_document(
    backend: str, tmp_path: Path, server_factory: Any, request: pytest.FixtureRequest
) -> None:
    """Schemathesis finds no 5xx and no answer that differs from the document."""
    server = await start_on(backend, tmp_path, server_factory, request)
    # webhooks the fuzzer registers must never be called (URLs are random)
    server.app[SOS].webhooks.publish = lambda *args, **kwargs: None  # type: ignore[method-assign]
    seeds = await Seeds.make(server)
    plan = FuzzPlan(base_url=server.url, seeds=seeds)
    started = time.monotonic()
    report = await asyncio.to_thread(fuzz, plan)
    print(f"fuzzed {report.operations} operations, {report.cases} cases "
          f"in {time.monotonic() - started:.0f} s")
    assert report.operations >= 80
    assert not report.failures, "\n\n".join(report.failures)


DEEP = "[" * 100_000 + "]" * 100_000
# (method, path, raw JSON body or None): each answered 500 before it was fixed
EDGE_CASES: list[tuple[str, str, str | None]] = [
    # found by the fuzzer: a URL urllib cannot split (unclosed IPv6 bracket)
    ("POST", "/api/v1/orgs/{org}/webhooks",
     '{"url": "http://[::1", "events": ["sos.*"], "secret": "0123456789abcdef"}'),
    ("POST", "/api/v1/conversations/{conv}/messages",
     ('{"client_msg_id": "c1", "type": "card",'
      ' "payload": {"card_type": "link", "title": "t", "url": "http://[x"}}')),
    # digits that str.isdigit() accepts and int() does not; numbers int() will not parse
    ("GET", "/api/v1/consults?limit=%C2%B2", None),
    ("GET", "/api/v1/accounts?limit=%C2%B2", None),
    ("GET", "/api/v1/im/search?q=a&limit=%C2%B2", None),
    ("GET", "/api/v1/sos?limit=%C2%B2", None),
    ("GET", "/api/v1/conversations/{conv}/messages?since_seq=%C2%B2", None),
    ("GET", "/api/v1/conversations/{conv}/messages?since_seq=" + "9" * 5000, None),
    # times at the ends of the calendar (overflow when taken to UTC or moved by a day)
    ("GET", "/api/v1/meetings?to=9999-12-31", None),
    ("GET", "/api/v1/stats/meetings?to=9999-12-31", None),
    ("GET", "/api/v1/meetings?from=0001-01-01T00:00:00%2B01:00", None),
    ("GET", "/api/v1/consults?from=0001-01-01T00:00:00%2B01:00", None),
    ("GET", "/api/v1/sos?from=0001-01-01T00:00:00%2B01:00", None),
    ("POST", "/api/v1/meetings",
     '{"title": "x", "category": "realtime", "start_at": "9999-12-31T23:59:59Z"}'),
    ("POST", "/api/v1/consults",
     '{"patient": "{nurse}", "scheduled_at": "0001-01-01T00:00:00+01:00"}'),
    # text that UTF-8 or PostgreSQL cannot store; nesting the JSON parser cannot follow
    ("POST", "/api/v1/orgs", '{"name": "\\ud800"}'),
    ("POST", "/api/v1/orgs", '{"name": "a\\u0000b"}'),
    ("POST", "/api/v1/accounts", '{"name": "x1", "role": "nurse", "password": "\\udfff"}'),
    ("POST", "/api/v1/conversations", DEEP),
    ("PUT", "/api/v1/elders/{nurse}/contacts", DEEP),
    ("GET", "/api/v1/orgs/a%00b", None),
    ("GET", "/api/v1/accounts?q=a%00b", None),
    ("GET", "/api/v1/meetings/a%00b", None),
]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_edge_inputs_answer_bad_request(
    backend: str, tmp_path: Path, server_factory: Any, request: pytest.FixtureRequest
) -> None:
    """Inputs that once answered 500 now answer 400 ``bad_request`` on both databases."""
    server = await start_on(backend, tmp_path, server_factory, request)
    admin = await server.user("edge-admin", "admin")
    nurse = await server.user("edge-nurse", "nurse")
    headers = {"Authorization": f"Bearer {server.token(admin)}",
               "Content-Type": "application/json"}
    wrong = []
    async with aiohttp.ClientSession(base_url=server.url, headers=headers) as http:
        async with http.post("/api/v1/orgs", json={"name": "Edge"}) as res:
            org = (await res.json())["id"]
        async with http.post("/api/v1/conversations", json={"members": [nurse.id]}) as res:
            conv = (await res.json())["id"]
        for method, template, body in EDGE_CASES:
            path = template.format(org=org, conv=conv, nurse=nurse.id)
            data = body.replace("{nurse}", nurse.id) if body else None
            async with http.request(method, path, data=data) as res:
                answer = await res.json() if res.content_type == "application/json" else {}
                code = answer.get("error", {}).get("code")
                if (res.status, code) != (400, "bad_request"):
                    wrong.append(f"{method} {path[:80]} -> {res.status} {answer}")
    assert not wrong, "\n".join(wrong)
