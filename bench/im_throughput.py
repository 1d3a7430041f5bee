"""Messaging throughput: ``im:send`` acks per second and ack latency, SQLite and PostgreSQL.

``carertc serve`` runs as its own process (fresh data directory; on PostgreSQL a
fresh database, dropped afterwards). Users are written into its database before
it starts; the conversations (groups: the conversation's senders plus one
receiving user) are created over HTTP. Load comes from a minimal Socket.IO
client (bench/sio_load.py) in child processes: every sender and every receiver
is its own websocket, so the server pays for the ``im:message`` fan-out too.

Two phases per backend, each with a warm-up that is not counted:

- **closed**: every sender keeps ``--window`` messages outstanding (default 1:
  the next message goes when the previous one is acked) -> max throughput.
- **open**: ``--rate`` messages per second in total, evenly spaced, senders in
  turn, latency measured from the planned send time -> latency at fixed load.

Afterwards the store is checked: every acked message is stored with the seq
its ack carried, per conversation the stored count equals the acked count,
and seqs run 1..n without gaps. Server CPU is read from /proc/<pid>/stat.

    .venv/bin/python bench/im_throughput.py                    # both backends, ~1 min
    .venv/bin/python bench/im_throughput.py --quick --backend sqlite   # ~15 s
    .venv/bin/python bench/im_throughput.py --py-spy /tmp/im-prof   # + py-spy of the server
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import aiohttp
import sio_load
from sqlalchemy import text

CARERTC = Path(sys.executable).parent / "carertc"
PY_SPY = Path(sys.executable).parent / "py-spy"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
TARGETS = {"sqlite": 2000.0, "postgres": 5000.0}
TARGET_P99_MS = 50.0


# ------------------------------------------------------------------------------ CPU


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` in seconds (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_pids() -> list[int]:
    """Every process named ``postgres`` (the whole cluster, not just this database)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "postgres":
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


@dataclass
class CpuSample:
    """CPU counters at one instant."""

    at: float
    server: float
    clients: float
    db: float
    busy: tuple[float, float]

    @staticmethod
    def take(server: int, clients: list[int], db: bool) -> CpuSample:
        """Read every counter now."""
        return CpuSample(
            time.monotonic(),
            cpu_seconds(server),
            sum(cpu_seconds(p) for p in clients),
            sum(cpu_seconds(p) for p in postgres_pids()) if db else 0.0,
            machine_busy(),
        )


# ------------------------------------------------------------------------ database


def database_url(backend: str, workdir: Path, admin_url: str) -> tuple[str, str | None]:
    """(the server's DATABASE_URL, the PostgreSQL database to drop afterwards or None)."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / 'bench.db'}", None
    name = f"carertc_bench_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(admin_url, f'CREATE DATABASE "{name}"'))
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{name}", name


async def _pg_admin(admin_url: str, statement: str) -> None:
    from db.engine import create_engine

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def drop_database(admin_url: str, name: str) -> None:
    """Drop a benchmark database (even with connections left)."""
    asyncio.run(_pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def create_users(url: str, senders: int, conversations: int) -> list[dict[str, str]]:
    """Migrate the empty database and insert the users (nurses send, patients receive)."""
    from accounts.models import User
    from db import migrate
    from db.engine import create_engine, session_factory

    engine = create_engine(url)
    users: list[dict[str, str]] = []
    try:
        await migrate.upgrade(engine)
        plan = [(f"sender{i}", "nurse") for i in range(senders)]
        plan += [(f"receiver{i}", "elder") for i in range(conversations)]
        async with session_factory(engine)() as s, s.begin():
            for name, role in plan:
                uid = str(uuid.uuid4())
                s.add(User(id=uid, name=name, display_name=name, role=role, disabled=False))
                users.append({"id": uid, "name": name, "role": role})
    finally:
        await engine.dispose()
    return users


async def check_store(url: str, acked: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Compare the store with the acks: every acked id stored with its seq; gap-free seqs."""
    from db.engine import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT id, conversation_id, seq, sender_id FROM im_messages")
                )
            ).all()
            last: dict[str, int] = {
                cid: seq
                for cid, seq in await conn.execute(
                    text("SELECT id, last_seq FROM im_conversations")
                )
            }
    finally:
        await engine.dispose()
    stored: dict[str, dict[str, int]] = {}
    client_rows = 0
    for mid, conv, seq, sender in rows:
        stored.setdefault(conv, {})[mid] = seq
        client_rows += sender is not None
    missing = wrong_seq = 0
    for conv, acks in acked.items():
        have = stored.get(conv, {})
        for mid, seq in acks.items():
            if mid not in have:
                missing += 1
            elif have[mid] != seq:
                wrong_seq += 1
    acked_total = sum(len(a) for a in acked.values())
    count_mismatch = [
        c for c in set(acked) | set(stored) if len(acked.get(c, {})) != len(stored.get(c, {}))
    ]
    gaps = [
        c
        for c, seqs in stored.items()
        if sorted(seqs.values()) != list(range(1, len(seqs) + 1)) or last.get(c) != len(seqs)
    ]
    ok = not (missing or wrong_seq or count_mismatch or gaps) and client_rows == acked_total
    return {
        "ok": ok,
        "acked": acked_total,
        "stored": len(rows),
        "conversations": len(stored),
        "missing": missing,
        "wrong_seq": wrong_seq,
        "count_mismatch": len(count_mismatch),
        "gap_conversations": len(gaps),
    }


# -------------------------------------------------------------------------- server


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A ``carertc serve`` child process."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        """SIGTERM, then wait (SIGKILL after 15 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(
    workdir: Path, db_url: str, secret: str, log: Path | None = None, cmd: str | None = None
) -> Server:
    """Start ``carertc serve`` (or ``cmd``) on a free port and wait until it listens."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CARERTC_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        CARERTC_DATA_DIR=str(workdir / "data"),
        CARERTC_SERVER_HOST="127.0.0.1",
        CARERTC_SERVER_PORT=str(port),
        CARERTC_AUTH_JWT_SECRET=secret,
        DATABASE_URL=db_url,
        CARERTC_LOG_LEVEL="WARNING",
    )
    log = log or workdir / "server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            shlex.split(cmd) if cmd else [str(CARERTC), "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    server = Server(proc, url, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"carertc serve exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("carertc serve did not start listening within 60 s")


async def create_conversations(url: str, owners: list[str], members: list[list[str]]) -> list[str]:
    """One group conversation per owner token over HTTP; their ids."""
    async with aiohttp.ClientSession() as http:
        ids = []
        for i, (token, others) in enumerate(zip(owners, members, strict=True)):
            resp = await http.post(
                f"{url}/api/v1/conversations",
                json={"kind": "group", "title": f"bench {i}", "members": others},
                headers={"Authorization": f"Bearer {token}"},
            )
            if resp.status != 201:
                raise RuntimeError(f"creating a conversation: {resp.status} {await resp.text()}")
            ids.append((await resp.json())["id"])
    return ids


# -------------------------------------------------------------------------- figures


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; nan if empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class PhaseResult:
    """One backend x mode."""

    backend: str
    mode: str
    senders: int
    conversations: int
    seconds: float
    acked: int
    offered: float
    rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    client_lag_p99_ms: float
    errors: dict[str, int]
    unacked: int
    deliveries_expected: int
    deliveries_received: int
    server_cores: float
    server_cpu_per_1k: float
    client_cores: float
    db_cores: float
    machine_busy: float
    other_cores: float
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """The one-line summary."""
        db = f"  db {self.db_cores:.2f} core" if self.backend == "postgres" else ""
        offered = (
            f" (offered {self.offered:,.0f}, client lag p99 {self.client_lag_p99_ms:.1f} ms)"
            if self.mode.startswith("open")
            else ""
        )
        errors = sum(self.errors.values())
        return (
            f"{self.backend:<8} {self.mode:<12} {self.senders} senders/{self.conversations} conv"
            f"  {self.rate:,.0f} msg/s acked{offered}"
            f"  ack p50 {self.p50_ms:.1f} ms p99 {self.p99_ms:.1f} ms max {self.max_ms:.1f} ms"
            f"  server {self.server_cores:.2f} core = {self.server_cpu_per_1k:.3f} CPU-s/1k msg"
            f"  clients {self.client_cores:.2f} core{db}  other {self.other_cores:.2f} core"
            f"  delivered {self.deliveries_received}/{self.deliveries_expected}"
            f"  errors {errors} unacked {self.unacked}"
        )


def summarise(
    backend: str,
    mode: str,
    args: argparse.Namespace,
    reports: list[dict[str, Any]],
    t0: CpuSample,
    t1: CpuSample,
) -> PhaseResult:
    """Figures of one phase from the workers' reports and the CPU samples."""
    window = t1.at - t0.at
    lat: list[float] = []
    lag: list[float] = []
    acked_in = 0
    errors: dict[str, int] = {}
    for r in reports:
        planned: array[float] = r["planned"]
        sent: array[float] = r["sent"]
        acked: array[float] = r["acked"]
        for p, s, a in zip(planned, sent, acked, strict=True):
            if t0.at <= a < t1.at:
                acked_in += 1
            key = p if mode.startswith("open") else a
            if t0.at <= key < t1.at:
                lat.append((a - p) * 1000)
                lag.append((s - p) * 1000)
        for code, n in r["errors"].items():
            errors[code] = errors.get(code, 0) + n
    rate = acked_in / window
    stored: dict[int, dict[str, int]] = {}
    for r in reports:
        for k, rows in r["stored"].items():
            stored.setdefault(k, {}).update(rows)
    server_cpu = t1.server - t0.server
    busy = (t1.busy[0] - t0.busy[0]) / max(1.0, t1.busy[1] - t0.busy[1])
    return PhaseResult(
        backend=backend,
        mode=mode,
        senders=args.senders,
        conversations=args.conversations,
        seconds=window,
        acked=acked_in,
        offered=args.rate if mode.startswith("open") else float("nan"),
        rate=rate,
        p50_ms=percentile(lat, 0.50),
        p99_ms=percentile(lat, 0.99),
        max_ms=max(lat) if lat else float("nan"),
        client_lag_p99_ms=percentile(lag, 0.99),
        errors=errors,
        unacked=sum(r["unacked"] for r in reports),
        deliveries_expected=sum(r["deliveries_expected"] for r in reports),
        deliveries_received=sum(r["deliveries_received"] for r in reports),
        server_cores=server_cpu / window,
        server_cpu_per_1k=server_cpu / max(1, acked_in) * 1000,
        client_cores=(t1.clients - t0.clients) / window,
        db_cores=(t1.db - t0.db) / window,
        machine_busy=busy,
        other_cores=max(
            0.0,
            busy * (os.cpu_count() or 1)
            - (server_cpu + t1.clients - t0.clients + t1.db - t0.db) / window,
        ),
        extra={"stored": stored},
    )


# ---------------------------------------------------------------------------- runs


class Workers:
    """The load-generating child processes."""

    def __init__(self, configs: list[dict[str, Any]]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes = []
        self.procs = []
        for config in configs:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=sio_load.worker_main, args=(child, config), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)
        for pipe in self.pipes:
            if not pipe.poll(120):
                raise RuntimeError("a load worker did not connect within 120 s")
            answer = pipe.recv()
            if "error" in answer:
                raise RuntimeError(answer["error"])

    @property
    def pids(self) -> list[int]:
        """The workers' process ids."""
        return [p.pid for p in self.procs if p.pid is not None]

    def command(self, cmd: dict[str, Any]) -> None:
        """Send ``cmd`` to every worker."""
        for pipe in self.pipes:
            pipe.send(cmd)

    def results(self, timeout: float) -> list[dict[str, Any]]:
        """Every worker's report of the phase."""
        out = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise RuntimeError("a load worker did not report")
            out.append(pipe.recv())
        return out

    def stop(self) -> None:
        """Tell the workers to disconnect; wait for them."""
        for pipe in self.pipes:
            try:
                pipe.send({"op": "stop"})
            except OSError:
                pass
        for proc in self.procs:
            proc.join(15)
            if proc.is_alive():
                proc.kill()


def run_phase(
    backend: str,
    mode: str,
    cmd: dict[str, Any],
    args: argparse.Namespace,
    workers: Workers,
    server: Server,
    profile: Path | None,
) -> PhaseResult:
    """Run one phase on every worker; sample CPU over the measured window."""
    start = time.monotonic() + 0.5
    workers.command({**cmd, "start": start, "seconds": args.warmup + args.seconds})
    _sleep_until(start + args.warmup)
    spy = None
    if profile is not None:
        spy = subprocess.Popen(
            [str(PY_SPY), "record", "-p", str(server.proc.pid), "-d", str(int(args.seconds)),
             "-r", "200", "--threads", "-f", "raw", "-o", f"{profile}-{backend}-{mode.split()[0]}.txt"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    pg = backend == "postgres"
    t0 = CpuSample.take(server.proc.pid, workers.pids, pg)
    _sleep_until(start + args.warmup + args.seconds)
    t1 = CpuSample.take(server.proc.pid, workers.pids, pg)
    reports = workers.results(120)
    if spy is not None:
        spy.wait(30)
    return summarise(backend, mode, args, reports, t0, t1)


def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def run_backend(backend: str, args: argparse.Namespace) -> tuple[list[PhaseResult], dict[str, Any]]:
    """Fresh server and database; closed loop, then open loop; then the store check."""
    from accounts.tokens import TokenService
    from carertc.config import AuthSettings

    with tempfile.TemporaryDirectory(prefix=f"carertc-im-bench-{backend}-") as tmp:
        workdir = Path(tmp)
        db_url, pg_name = database_url(backend, workdir, args.pg_admin_url)
        server: Server | None = None
        workers: Workers | None = None
        try:
            users = asyncio.run(create_users(db_url, args.senders, args.conversations))
            secret = secrets.token_urlsafe(32)
            auth = AuthSettings(jwt_secret=secret)  # the server's issuer and audience
            tokens = TokenService(secret, auth.issuer, auth.audience)

            def token(u: dict[str, str]) -> str:
                return tokens.issue(
                    user_id=u["id"], name=u["name"], role=u["role"], ttl_seconds=3600
                )

            senders = [u for u in users if u["role"] == "nurse"]
            receivers = [u for u in users if u["role"] == "elder"]
            conv_of = [i % args.conversations for i in range(len(senders))]
            server = start_server(
                workdir,
                db_url,
                secret,
                Path(args.server_log) if args.server_log else None,
                args.server_cmd,
            )
            owners = [token(senders[c]) for c in range(args.conversations)]
            members = [
                [
                    s["id"]
                    for s, c in zip(senders, conv_of, strict=True)
                    if c == k and s != senders[k]
                ]
                + [receivers[k]["id"]]
                for k in range(args.conversations)
            ]
            conv_ids = asyncio.run(create_conversations(server.url, owners, members))
            configs = []
            for w in range(args.workers):
                mine = [k for k in range(args.conversations) if k % args.workers == w]
                configs.append(
                    {
                        "url": server.url,
                        "tag": f"b{secrets.token_hex(3)}w{w}",
                        "conversations": {k: conv_ids[k] for k in mine},
                        "senders": [
                            (c, token(s))
                            for s, c in zip(senders, conv_of, strict=True)
                            if c in mine
                        ],
                        "receivers": [(k, token(receivers[k])) for k in mine],
                    }
                )
            workers = Workers(configs)
            results = []
            profile = Path(args.py_spy) if args.py_spy else None
            results.append(
                run_phase(
                    backend,
                    f"closed w={args.window}",
                    {"op": "closed", "window": args.window},
                    args,
                    workers,
                    server,
                    profile,
                )
            )
            print(results[-1].line(), flush=True)
            per_worker = args.rate / args.workers
            results.append(
                run_phase(
                    backend,
                    f"open {args.rate:g}/s",
                    {"op": "open", "rate": per_worker},
                    args,
                    workers,
                    server,
                    profile,
                )
            )
            print(results[-1].line(), flush=True)
            workers.stop()
            workers = None
            acked = _acked_by_conversation(results, conv_ids)
            server.stop()
            check = asyncio.run(check_store(db_url, acked))
            print(
                f"{backend:<8} check: {check['acked']:,} acked, {check['stored']:,} stored in "
                f"{check['conversations']} conversations; missing {check['missing']}, "
                f"wrong seq {check['wrong_seq']}, count mismatches {check['count_mismatch']}, "
                f"conversations with seq gaps {check['gap_conversations']} -> "
                f"{'OK' if check['ok'] else 'FAILED'}",
                flush=True,
            )
            return results, check
        finally:
            if workers is not None:
                workers.stop()
            if server is not None:
                server.stop()
            if pg_name is not None:
                drop_database(args.pg_admin_url, pg_name)


def _acked_by_conversation(
    results: list[PhaseResult], conv_ids: list[str]
) -> dict[str, dict[str, int]]:
    """conversation id -> {message id: seq} over every phase's acks."""
    out: dict[str, dict[str, int]] = {cid: {} for cid in conv_ids}
    for r in results:
        for k, rows in r.extra.get("stored", {}).items():
            out[conv_ids[k]].update(rows)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--seconds", type=float, help="measured seconds per phase (default 10; 4 quick)")
    p.add_argument("--warmup", type=float, help="unmeasured seconds first (default 2; 1 quick)")
    p.add_argument("--senders", type=int, default=100)
    p.add_argument("--conversations", type=int, default=50)
    p.add_argument("--rate", type=float, default=1000.0, help="offered msg/s in the open phase")
    p.add_argument("--window", type=int, default=1, help="outstanding messages per sender (closed)")
    p.add_argument("--workers", type=int, default=2, help="load-generating processes")
    p.add_argument("--quick", action="store_true", help="short phases")
    p.add_argument("--pg-admin-url", default=os.environ.get("CARERTC_BENCH_PG", PG_ADMIN_URL))
    p.add_argument("--py-spy", metavar="PREFIX", help="record the server with py-spy (raw)")
    p.add_argument("--server-log", metavar="PATH", help="append the server's output here")
    p.add_argument(
        "--server-cmd",
        metavar="CMD",
        help="run this instead of `carertc serve` (same environment), e.g. to compare builds",
    )
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args(argv)
    if args.seconds is None:
        args.seconds = 4.0 if args.quick else 10.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 2.0
    if args.senders < args.conversations or args.conversations < 1:
        p.error("--senders must be at least --conversations (each conversation has a sender)")
    args.workers = max(1, min(args.workers, args.conversations))
    return args


def print_targets(results: list[PhaseResult]) -> None:
    """Whether each figure meets its target (throughput; p99 at 1,000 msg/s offered)."""
    for r in results:
        if r.mode.startswith("closed"):
            target = TARGETS[r.backend]
            verdict = "met" if r.rate >= target else "NOT met"
            print(f"target {r.backend}: >= {target:,.0f} msg/s -> {r.rate:,.0f} msg/s, {verdict}")
        elif r.offered == 1000:
            verdict = "met" if r.p99_ms < TARGET_P99_MS else "NOT met"
            print(
                f"target {r.backend}: p99 < {TARGET_P99_MS:g} ms at 1,000 msg/s -> "
                f"{r.p99_ms:.1f} ms, {verdict}"
            )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if the store check fails."""
    args = parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(
        f"messaging throughput: {args.senders} senders, {args.conversations} conversations "
        f"(+1 receiver each), closed loop window {args.window}, open loop {args.rate:g} msg/s; "
        f"{args.warmup:g} s warm-up + {args.seconds:g} s measured per phase; "
        f"{args.workers} load processes; {os.cpu_count()} CPUs",
        flush=True,
    )
    all_results: list[PhaseResult] = []
    checks: dict[str, dict[str, Any]] = {}
    for backend in backends:
        results, check = run_backend(backend, args)
        all_results += results
        checks[backend] = check
    print()
    if args.senders == 100 and args.conversations == 50:
        print_targets(all_results)
    else:
        print("(the targets are for 100 senders in 50 conversations; not judged here)")
    if args.json:
        data = {
            "args": {k: v for k, v in vars(args).items()},
            "results": [{k: v for k, v in r.__dict__.items() if k != "extra"} for r in all_results],
            "checks": checks,
        }
        Path(args.json).write_text(json.dumps(data, indent=2, default=str))
    ok = all(c["ok"] for c in checks.values()) and all(
        r.deliveries_received == r.deliveries_expected and r.unacked == 0 for r in all_results
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
