"""Janus's network namespace for bench/janus_baseline.py, and the Janus process in it.

Janus 1.1.2 skips loopback interfaces for ICE, so it runs alone in a network namespace
made for the run (veth pair 10.203.0.1/30 <-> 10.203.0.2/30, nothing else routed);
the aiortc clients gather ICE candidates on 10.203.0.1 only (ice_only_on). Only our
own names (NETNS, VETH_HOST) are ever created or removed. Needs root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import string
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import aioice.ice

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from loadgen import cpu_seconds

TEMPLATES = HERE / "janus"

JANUS_BIN = shutil.which("janus") or "/usr/bin/janus"
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")

# Our own namespace and a /30 used only between it and this machine's root namespace.
NETNS = "crtc-janus"
VETH_HOST, VETH_NS = "crtcj0", "crtcj1"
HOST_IP, JANUS_IP, PREFIX = "10.203.0.1", "10.203.0.2", 30
HTTP_PORT = 8088
ROOM = 1234


# ---------------------------------------------------------------------------- namespace

def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def netns_down() -> None:
    """Remove our namespace and veth (only these names; quiet if absent)."""
    if NETNS in _ip("netns", "list", check=False).stdout.split():
        # Janus processes we started that somehow survived: end them by pid.
        for pid in _ip("netns", "pids", NETNS, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _ip("netns", "del", NETNS, check=False)
    _ip("link", "del", VETH_HOST, check=False)  # deleting one end removes the pair


def netns_up() -> None:
    netns_down()
    _ip("netns", "add", NETNS)
    _ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS, "netns", NETNS)
    _ip("addr", "add", f"{HOST_IP}/{PREFIX}", "dev", VETH_HOST)
    _ip("link", "set", VETH_HOST, "up")
    _ip("-n", NETNS, "link", "set", "lo", "up")
    _ip("-n", NETNS, "addr", "add", f"{JANUS_IP}/{PREFIX}", "dev", VETH_NS)
    _ip("-n", NETNS, "link", "set", VETH_NS, "up")


@contextlib.contextmanager
def ice_only_on(address: str) -> Iterator[None]:
    """Make aiortc (aioice) gather host candidates on `address` only, then restore."""
    original = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [address]
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


# ---------------------------------------------------------------------------- janus process

class JanusProcess:
    """Janus in our namespace with rendered configs; CPU read from /proc/<pid>/stat."""

    def __init__(self, workdir: Path, debug_level: int = 4, event_loops: int = 1) -> None:
        self.workdir = workdir
        conf, plugins, transports, empty = (workdir / d for d in
                                            ("conf", "plugins", "transports", "empty"))
        for d in (conf, plugins, transports, empty):
            d.mkdir(parents=True, exist_ok=True)
        # Only the videoroom plugin and the HTTP transport get loaded.
        for src, dst in ((JANUS_LIB / "plugins" / "libjanus_videoroom.so", plugins),
                         (JANUS_LIB / "transports" / "libjanus_http.so", transports)):
            link = dst / src.name
            if not link.exists():
                link.symlink_to(src)
        values = {"confdir": conf, "plugins": plugins, "transports": transports, "empty": empty,
                  "debug_level": debug_level, "event_loops": event_loops, "iface": VETH_NS,
                  "http_port": HTTP_PORT, "janus_ip": JANUS_IP, "room": ROOM,
                  "admin_key": uuid.uuid4().hex}
        for tpl in TEMPLATES.glob("*.jcfg.in"):
            text = string.Template(tpl.read_text()).substitute(values)
            (conf / tpl.name.removesuffix(".in")).write_text(text)
        self.log_path = workdir / "janus.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        # `ip netns exec` execs janus in place: the Popen pid is Janus's pid. Own session,
        # so a terminal's Ctrl-C reaches only us; we stop Janus ourselves.
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", NETNS, JANUS_BIN, "-C",
                 str(self.workdir / "conf" / "janus.jcfg"), "-F", str(self.workdir / "conf"),
                 "-o"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def thread_ns(self) -> dict[int, int]:
        """Per-thread run time in ns (schedstat): tick-free, unlike utime+stime."""
        out: dict[int, int] = {}
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{self.pid}/task/{tid}/schedstat") as f:
                    out[int(tid)] = int(f.read().split()[0])
        return out

    def thread_names(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{self.pid}/task/{tid}/comm") as f:
                    out[int(tid)] = f.read().strip()
        return out

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # Janus shuts down cleanly on SIGINT
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
