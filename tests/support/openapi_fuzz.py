"""Fuzzing the running server with schemathesis, from its own OpenAPI document.

:class:`Seeds` makes real records over HTTP (an organisation with an admin, a
nurse, a doctor, an elder and family; a conversation with a message and an
attachment; a consult; a meeting with an invite link; an SOS; an API key and
a webhook). :func:`fuzz` runs, in the calling thread (the server keeps its
own event loop), every operation of the document with generated path
parameters and again with the seeded ones: schemathesis' boundary cases, then
positive and negative cases drawn by Hypothesis; it returns what failed.
"""

from __future__ import annotations

import io
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from tests.conftest import RunningServer

# no 5xx; status codes, content types and bodies as documented; invalid input refused
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
]
SEED = 20260101


def png() -> bytes:
    """A small valid PNG."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@dataclass
class Seeds:
    """Real records to fill path parameters with, and the tokens to call as."""

    admin_token: str
    nurse_token: str
    params: dict[str, dict[str, str]]  # "by_name" or a path prefix -> {param: value}

    @classmethod
    async def make(cls, server: RunningServer) -> Seeds:
        """Create everything over HTTP as a global admin acting for a new organisation."""
        suffix = uuid.uuid4().hex[:6]
        admin = await server.user(f"fuzz-admin-{suffix}", "admin", display_name="Fuzz Admin")
        async with aiohttp.ClientSession(base_url=server.url) as http:
            api = _Api(http, server.token(admin))
            org = (await api.post("/api/v1/orgs", {"name": f"Fuzz {suffix}"}))["id"]
            ids: dict[str, str] = {}
            for nick, role in (("nurse", "nurse"), ("doctor", "doctor"), ("elder", "elder"),
                               ("family", "family"), ("victim", "guest")):
                account = await api.post(
                    "/api/v1/accounts",
                    {"name": f"fuzz-{nick}-{suffix}", "role": role, "password": "pw",
                     "org_id": org},
                )
                ids[nick] = account["id"]
            await api.post(f"/api/v1/orgs/{org}/members",
                           {"user_id": admin.id, "role": "admin"})
            api.token = (await api.post("/api/v1/auth/switch", {"org_id": org}))["token"]
            nurse_token = (await api.post(
                "/api/v1/auth/login", {"name": f"fuzz-nurse-{suffix}", "password": "pw"}
            ))["token"]
            conv = (await api.post("/api/v1/conversations",
                                   {"kind": "group", "members": [ids["nurse"]]}))["id"]
            message = (await api.post(f"/api/v1/conversations/{conv}/messages",
                                      {"client_msg_id": "seed-1", "body": "hello"}))["id"]
            attachment = (await api.post(
                f"/api/v1/conversations/{conv}/attachments?filename=dot.png&type=image",
                png(),
            ))["id"]
            await api.put(f"/api/v1/elders/{ids['elder']}/contacts",
                          [{"contact_id": ids["family"], "relation": "family"}])
            consult = (await api.post("/api/v1/consults", {"patient": ids["elder"]}))["id"]
            start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            meeting = (await api.post("/api/v1/meetings", {
                "title": "Fuzz", "category": "realtime", "start_at": start,
                "invitees": [ids["nurse"]],
            }))["id"]
            invite = await api.post(f"/api/v1/meetings/{meeting}/invites", {})
            elder_token = (await api.post(
                "/api/v1/auth/login", {"name": f"fuzz-elder-{suffix}", "password": "pw"}
            ))["token"]
            sos = (await _Api(http, elder_token).post("/api/v1/sos", {}))["sos"]["id"]
            key = (await api.post(f"/api/v1/orgs/{org}/api-keys", {"name": "seed"}))["id"]
            hook = (await api.post(f"/api/v1/orgs/{org}/webhooks", {
                "url": "http://127.0.0.1:9/hook", "events": ["sos.*"], "secret": "s" * 16,
            }))["id"]
        by_name = {
            "org_id": org, "user_id": ids["victim"], "uid": ids["nurse"], "aid": attachment,
            "rid": f"ward-{suffix}", "elder_id": ids["elder"], "sos_id": sos, "key_id": key,
            "webhook_id": hook, "invite": invite["token"], "token": invite["token"],
        }
        by_prefix = {
            "/api/v1/conversations/": {"cid": conv},
            "/api/v1/messages/": {"mid": message},
            "/api/v1/consults/": {"cid": consult},
            "/api/v1/meetings/": {"mid": meeting},
        }
        return cls(api.token, nurse_token, {"by_name": by_name, **by_prefix})

    def path_parameters(self, path: str, names: list[str]) -> dict[str, str]:
        """Seeded values for the path parameters ``names`` of ``path``."""
        out = {n: self.params["by_name"][n] for n in names if n in self.params["by_name"]}
        for prefix, values in self.params.items():
            if path.startswith(prefix):
                out.update({n: v for n, v in values.items() if n in names})
        return out


class _Api:
    def __init__(self, http: aiohttp.ClientSession, token: str) -> None:
        self.http = http
        self.token = token

    async def call(self, method: str, path: str, body: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        kwargs: dict[str, Any] = {"data": body} if isinstance(body, bytes) else {"json": body}
        async with self.http.request(method, path, headers=headers, **kwargs) as res:
            data = await res.json()
            assert res.status in (200, 201), (method, path, res.status, data)
            return data

    async def post(self, path: str, body: Any) -> Any:
        return await self.call("POST", path, body)

    async def put(self, path: str, body: Any) -> Any:
        return await self.call("PUT", path, body)


@dataclass
class FuzzPlan:
    """What to fuzz and how hard."""

    base_url: str
    seeds: Seeds
    positive_examples: int = 25
    negative_examples: int = 15
    nurse_examples: int = 8
    coverage_cases: int = 40  # boundary cases per operation and pass (schemathesis' coverage)
    verbose: bool = False
    # (method, path) whose seeded pass would end the seeded records for the rest of the run
    unseeded: frozenset[tuple[str, str]] = frozenset({("DELETE", "/api/v1/orgs/{org_id}")})


@dataclass
class FuzzReport:
    """What :func:`fuzz` did."""

    operations: int = 0
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    statuses: defaultdict[str, set[int]] = field(default_factory=lambda: defaultdict(set))


# run last: they end the seeded records (cancel a meeting, end a consult...)
ENDINGS = ("/cancel", "/end", "/disable", "/revoke", "/recall")


def _order(operation: Any) -> tuple[int, str]:
    last = operation.method.upper() == "DELETE" or operation.path.endswith(ENDINGS)
    return (1 if last else 0, operation.label)


def fuzz(plan: FuzzPlan) -> FuzzReport:
    """Run every operation of the served document (call it from a worker thread)."""
    register_formats()
    config = SchemathesisConfig.from_dict(
        {"generation": {"with-security-parameters": False}}
    )
    schema = schemathesis.openapi.from_url(
        f"{plan.base_url}/api/v1/openapi.json", config=config
    )
    report = FuzzReport()
    admin = {"Authorization": f"Bearer {plan.seeds.admin_token}"}
    nurse = {"Authorization": f"Bearer {plan.seeds.nurse_token}"}
    operations = sorted((r.ok() for r in schema.get_all_operations()), key=_order)
    for operation in operations:
        key = (operation.method.upper(), operation.path)
        report.operations += 1
        names = [p.name for p in operation.path_parameters]
        seeded = plan.seeds.path_parameters(operation.path, names)
        passes: list[tuple[str, dict[str, str], dict[str, str] | None, int, int]] = [
            ("admin", admin, None, plan.positive_examples, plan.negative_examples),
        ]
        if seeded and key not in plan.unseeded:
            passes += [
                ("admin/seeded", admin, seeded, plan.positive_examples, plan.negative_examples),
                ("nurse/seeded", nurse, seeded, plan.nurse_examples, 0),
            ]
        for who, headers, params, positive, negative in passes:
            run = _Run(plan.base_url, headers, f"{operation.label} [{who}]", report)
            began = time.monotonic()
            if who != "nurse/seeded":
                run.coverage(schema, operation, params, plan.coverage_cases)
            run.generated(operation, params, GenerationMode.POSITIVE, positive)
            run.generated(operation, params, GenerationMode.NEGATIVE, negative)
            if plan.verbose:
                print(f"{time.monotonic() - began:6.2f}s {run.label}")
    if plan.verbose:
        for label, seen in sorted(report.statuses.items()):
            print(f"statuses {label}: {sorted(seen)}")
    return report


class _Run:
    """One operation called as one principal; failures go to the report (3 distinct at most)."""

    def __init__(self, base_url: str, headers: dict[str, str], label: str, report: FuzzReport):
        self.base_url = base_url
        self.headers = headers
        self.label = label
        self.report = report
        self.seen: set[str] = set()

    def check(self, case: Any) -> None:
        """Call the server with ``case`` and validate the answer."""
        self.report.cases += 1
        response = case.call(base_url=self.base_url, headers=self.headers, timeout=15)
        if _refused_by_http_parser(response):
            return
        self.report.statuses[self.label].add(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS, headers=self.headers)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported
            problems = getattr(exc, "exceptions", (exc,))
            first = "; ".join(sorted({getattr(p, "title", type(p).__name__) for p in problems}))
            details = "\n".join(str(p)[:1500] for p in problems)
            what = first + details.strip().splitlines()[-1]
            if what in self.seen or len(self.seen) >= 3:
                return
            self.seen.add(what)
            request = response.request
            body = request.body if isinstance(request.body, (str, bytes)) else ""
            self.report.failures.append(
                f"{self.label}: {first}\n  {request.method} {request.url[:400]}\n"
                f"  body: {body[:400]!r}\n  -> {response.status_code} "
                f"{response.text[:400]!r}\n{details}"
            )

    def coverage(
        self, schema: Any, operation: Any, path_parameters: dict[str, str] | None, limit: int
    ) -> None:
        """Schemathesis' deterministic boundary cases (positive and negative)."""
        cases = schema.iter_coverage_cases(
            operation,
            generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=schema.config.generation_for(operation=operation),
        )
        for i, case in enumerate(cases):
            if i >= limit:
                break
            if path_parameters and case.path_parameters is not None:
                case.path_parameters.update(path_parameters)
            self.check(case)

    def generated(
        self,
        operation: Any,
        path_parameters: dict[str, str] | None,
        mode: GenerationMode,
        examples: int,
    ) -> None:
        """``examples`` cases drawn by Hypothesis (fixed seed, no shrinking)."""
        if examples <= 0:
            return

        @hypothesis.settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @hypothesis.seed(SEED)
        @hypothesis.given(
            case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
        )
        def run(case: Any) -> None:
            self.check(case)

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            pass  # nothing can be generated in this mode (e.g. no parameters to negate)


def register_formats() -> None:
    """Times for ``date-time`` that reach the ends of the calendar and every offset."""
    day = st.one_of(
        st.dates(),
        st.sampled_from([date.min, date.max, date(1, 1, 2), date(9999, 12, 30)]),
    )
    clock = st.times().map(lambda t: t.isoformat())
    offset = st.one_of(
        st.just("Z"),
        st.builds("{}{:02d}:{:02d}".format, st.sampled_from("+-"),
                  st.integers(0, 23), st.integers(0, 59)),
    )
    schemathesis.openapi.format(
        "date-time", st.builds("{}T{}{}".format, day.map(str), clock, offset)
    )


def _refused_by_http_parser(response: Any) -> bool:
    """aiohttp refused the request line or a header (over 8190 bytes) before the app saw it."""
    return response.status_code == 400 and response.text.startswith("Got more than 8190 bytes")
