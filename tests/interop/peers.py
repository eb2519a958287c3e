"""The Go and Rust peers as subprocesses: locating/building the binaries and a JSON-lines driver.

Each peer prints `{"event":"ready",...}`, then answers one line per command, matched by `id`
(commands run concurrently on the peer's side), and prints watch events as separate lines.
See interop/go/README.md and interop/rust/README.md for the command sets.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

REPO = Path(__file__).resolve().parents[2]
GO_DIR = REPO / "interop" / "go"
RUST_DIR = REPO / "interop" / "rust"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# A cold Rust build takes ~10 min on 2 cores; `make interop` builds before pytest runs.
BUILD_TIMEOUT_S = 45 * 60
READY_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


class PeerError(Exception):
    """A command answered `ok: false`, or the peer died."""


class Unavailable(Exception):
    """A peer binary can be neither found nor built (the toolchain is missing)."""


def _tool(name: str, fallbacks: list[Path]) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for path in fallbacks:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def _run_build(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{' '.join(argv)} took more than {BUILD_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
    return done.stdout


def go_binary() -> Path:
    """interop/go/bin/registry-peer-go, (re)built with `go build` (a no-op when up to date).

    $REGISTRY_PEER_GO names a prebuilt binary instead.
    """
    given = os.environ.get("REGISTRY_PEER_GO")
    if given:
        return Path(given)
    binary = GO_DIR / "bin" / "registry-peer-go"
    go = _tool("go", [Path("/usr/local/go/bin/go"), Path.home() / "go" / "bin" / "go"])
    if go is None:
        if binary.exists():
            return binary
        raise Unavailable("the Go toolchain (`go`) is not installed and interop/go/bin/registry-peer-go is missing")
    _run_build([go, "build", "-o", str(binary), "./cmd/registry-peer-go"], GO_DIR)
    return binary


def rust_binary() -> Path:
    """$CARGO_TARGET_DIR/debug/registry-peer-rust (default target dir outside the clone), built
    with `cargo build --locked` (a no-op when up to date). $REGISTRY_PEER_RUST names a prebuilt one."""
    given = os.environ.get("REGISTRY_PEER_RUST")
    if given:
        return Path(given)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or Path.home() / ".cache" / "registry-p2p" / "cargo-target")
    binary = target / "debug" / "registry-peer-rust"
    cargo = _tool("cargo", [Path.home() / ".cargo" / "bin" / "cargo"])
    if cargo is None:
        if binary.exists():
            return binary
        raise Unavailable("the Rust toolchain (`cargo`) is not installed and no registry-peer-rust binary was found")
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    env["PATH"] = f"{Path(cargo).parent}{os.pathsep}{env.get('PATH', '')}"
    _run_build([cargo, "build", "--locked", "--quiet"], RUST_DIR, env)
    return binary


@dataclass
class WatchEvent:
    kind: str
    resource_id: str
    issuer: str
    host: str
    service_id: str
    value: bytes | None
    issued_at_ms: int

    @classmethod
    def of(cls, line: dict[str, Any]) -> WatchEvent:
        raw = line.get("value_base64")
        return cls(
            kind=line["kind"],
            resource_id=line["resource_id"],
            issuer=line["issuer"],
            host=line["host"],
            service_id=line["service_id"],
            value=base64.b64decode(raw) if raw is not None else None,
            issued_at_ms=int(line["issued_at_ms"]),
        )


class ExternalPeer:
    """One running peer process: `await peer.cmd("resolve", resource_id=...)` -> the reply dict."""

    def __init__(self, name: str, process: trio.Process, log_path: Path) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path
        self.peer_id = ""
        self.addrs: list[str] = []
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[trio.Event, list[dict[str, Any]]]] = {}
        self._write_lock = trio.Lock()
        self._ready = trio.Event()
        self._dead: str | None = None
        self._events_send, self.events = trio.open_memory_channel[WatchEvent](1024)

    def __repr__(self) -> str:
        return f"<{self.name} {self.peer_id[-6:]}>"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    async def read_loop(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        assert self.process.stdout is not None
        buffer = b""
        try:
            while True:
                chunk = await self.process.stdout.receive_some(65536)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._on_line(line)
        finally:
            self._dead = self._dead or f"{self.name} closed its stdout"
            self._ready.set()
            for event, _ in self._pending.values():
                event.set()
            self._events_send.close()

    def _on_line(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if message.get("event") == "ready":
            self.peer_id = message["peer_id"]
            self.addrs = list(message["addrs"])
            self._ready.set()
        elif message.get("event") == "watch":
            with suppress(trio.WouldBlock):  # nobody reads them: drop
                self._events_send.send_nowait(WatchEvent.of(message))
        elif "id" in message and isinstance(message["id"], int) and message["id"] in self._pending:
            event, slot = self._pending[message["id"]]
            slot.append(message)
            event.set()

    async def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        with trio.fail_after(timeout):
            await self._ready.wait()
        if self._dead or not self.peer_id:
            raise PeerError(f"{self.name} did not start: {self._dead}\n{self.log_tail()}")

    async def request(self, command: str, timeout: float = COMMAND_TIMEOUT_S, **fields: Any) -> dict[str, Any]:
        """Send one command and return its reply, `ok: false` included."""
        if self._dead:
            raise PeerError(f"{self.name} is gone: {self._dead}")
        request_id = next(self._ids)
        event, slot = trio.Event(), []
        self._pending[request_id] = (event, slot)
        line = json.dumps({"id": request_id, "cmd": command, **fields}).encode() + b"\n"
        assert self.process.stdin is not None
        try:
            async with self._write_lock:
                await self.process.stdin.send_all(line)
            try:
                with trio.fail_after(timeout):
                    await event.wait()
            except trio.TooSlowError:
                raise PeerError(f"{self.name}: no answer to {command} within {timeout} s\n{self.log_tail()}") from None
        finally:
            self._pending.pop(request_id, None)
        if not slot:
            raise PeerError(f"{self.name} died during {command}: {self._dead}\n{self.log_tail()}")
        return slot[0]

    async def cmd(self, command: str, timeout: float = COMMAND_TIMEOUT_S, **fields: Any) -> dict[str, Any]:
        """Send one command; raise PeerError when it answers `ok: false`."""
        reply = await self.request(command, timeout, **fields)
        if not reply.get("ok"):
            raise PeerError(f"{self.name} {command}: {reply.get('error')}")
        return reply

    async def next_event(self, timeout: float) -> WatchEvent:
        with trio.fail_after(timeout):
            return await self.events.receive()

    async def stop(self) -> None:
        """Close stdin (the peer exits on EOF); kill it if it has not exited in time."""
        with trio.CancelScope(shield=True):
            if self.process.stdin is not None:
                with suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    await self.process.stdin.aclose()
            with trio.move_on_after(STOP_TIMEOUT_S):
                await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
                with trio.move_on_after(STOP_TIMEOUT_S):
                    await self.process.wait()


@asynccontextmanager
async def run_peer(name: str, binary: Path, args: list[str], log_path: Path) -> AsyncIterator[ExternalPeer]:
    """Start a peer on 127.0.0.1 (stderr to `log_path`), wait for `ready`, stop it on exit."""
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "registry_peer=info,registry_peer_rust=info,warn")
    with open(log_path, "wb") as log:
        process = await trio.lowlevel.open_process(
            [str(binary), "--listen", "/ip4/127.0.0.1/tcp/0", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
        )
    peer = ExternalPeer(name, process, log_path)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(peer.read_loop)
            try:
                await peer.wait_ready()
                yield peer
            finally:
                await peer.stop()
                nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
