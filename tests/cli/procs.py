"""Running `registry-p2p` as real processes: one-shot verbs, and long-running nodes and watchers
whose output lines are read as they come (a reader thread per stream, so waits are bounded)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXE = Path(sys.executable).with_name("registry-p2p")
CLI = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "registry_p2p.cli"]
LOOPBACK = "/ip4/127.0.0.1/tcp/0"
ENV_BOOTSTRAP = "REGISTRY_P2P_BOOTSTRAP"
ENV_API = ("REGISTRY_P2P_API", "REGISTRY_P2P_API_TOKEN")  # the local node a verb would use


def clean_env(bootstrap: str | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ENV_BOOTSTRAP and k not in ENV_API}
    if bootstrap is not None:
        env[ENV_BOOTSTRAP] = bootstrap
    env.update(extra or {})
    return env


def cli(
    *args: str, bootstrap: str | None = None, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one verb to completion."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=clean_env(bootstrap, env), check=False
    )


def cli_json(*args: str, bootstrap: str | None = None, timeout: float = 60) -> Any:
    """Run one verb with --json; it must succeed and print exactly one JSON document."""
    done = cli(*args, "--json", bootstrap=bootstrap, timeout=timeout)
    assert done.returncode == 0, f"{args} failed ({done.returncode}): {done.stderr}"
    lines = done.stdout.splitlines()
    assert len(lines) == 1, f"{args} printed {done.stdout!r}"
    return json.loads(lines[0])


def failure_line(done: subprocess.CompletedProcess[str]) -> str:
    """A failed verb: non-zero status, nothing on stdout, exactly one line on stderr, no traceback."""
    assert done.returncode != 0, done
    assert done.stdout == "", done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {done.stderr!r}"
    assert "Traceback" not in done.stderr
    return lines[0]


class Proc:
    """A long-running process; its stdout and stderr lines are queued as they arrive."""

    def __init__(self, args: Sequence[str], bootstrap: str | None = None, program: Sequence[str] = CLI) -> None:
        self.args = list(args)
        self.popen = subprocess.Popen(
            [*program, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(bootstrap),
        )
        self.stdout: queue.Queue[str | None] = queue.Queue()
        self.stderr: queue.Queue[str | None] = queue.Queue()
        self.stderr_seen: list[str] = []
        for stream, sink in ((self.popen.stdout, self.stdout), (self.popen.stderr, self.stderr)):
            threading.Thread(target=_pump, args=(stream, sink), daemon=True).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def next_line(self, timeout: float, stream: str = "stdout") -> str:
        sink = self.stdout if stream == "stdout" else self.stderr
        try:
            line = sink.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.args[:2]}: no {stream} line within {timeout} s; {self.errors()}") from None
        if line is None:
            raise AssertionError(f"{self.args[:2]} closed {stream} (exit {self.popen.wait()}); {self.errors()}")
        if stream == "stderr":
            self.stderr_seen.append(line)
        return line

    def json_line(self, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = 30) -> Any:
        """The next JSON line on stdout that satisfies `predicate` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(max(0.0, deadline - time.monotonic()))
            document = json.loads(line)
            if predicate(document):
                return document

    def stderr_line(self, startswith: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(max(0.0, deadline - time.monotonic()), "stderr")
            if line.startswith(startswith):
                return line

    def rest_of_stderr(self, timeout: float = 30) -> list[str]:
        """The stderr lines not read yet, up to the end of the stream (the process exits first)."""
        self.popen.wait(timeout=timeout)
        rest = []
        while (line := self.stderr.get(timeout=timeout)) is not None:
            rest.append(line)
        self.stderr_seen.extend(rest)
        return rest

    def errors(self) -> str:
        pending = []
        while True:
            try:
                line = self.stderr.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                pending.append(line)
        self.stderr_seen.extend(pending)
        return "stderr: " + " | ".join(self.stderr_seen[-10:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"{self.args[:2]} ignored signal {sig} for {timeout} s") from None

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()


def _pump(stream: Any, sink: queue.Queue[str | None]) -> None:
    for line in stream:
        sink.put(line.rstrip("\n"))
    sink.put(None)


@dataclass
class NodeProc:
    """`registry-p2p node --json`, ready: its peer id, first address and metrics URL."""

    proc: Proc
    data_dir: Path
    peer_id: str
    addr: str
    metrics: str | None
    api: str | None = None  # http://HOST:PORT with --api

    @classmethod
    def launch(
        cls,
        data_dir: Path,
        bootstrap: Sequence[str] = (),
        listen: str = LOOPBACK,
        metrics: bool = False,
        extra: Sequence[str] = (),
    ) -> Proc:
        args = ["node", "--json", "--listen", listen, "--data-dir", str(data_dir), *extra]
        for addr in bootstrap:
            args += ["--bootstrap", addr]
        if metrics:
            args += ["--metrics", "127.0.0.1:0"]
        return Proc(args)

    @classmethod
    def ready(cls, proc: Proc, data_dir: Path, timeout: float = 60) -> NodeProc:
        ready = proc.json_line(lambda d: d.get("event") == "ready", timeout=timeout)
        return cls(proc, data_dir, ready["peer_id"], ready["addrs"][0], ready.get("metrics"), ready.get("api"))

    @classmethod
    def start(cls, data_dir: Path, **kwargs: Any) -> NodeProc:
        return cls.ready(cls.launch(data_dir, **kwargs), data_dir)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        return self.proc.stop(sig)


class SilentPeer:
    """A TCP listener on 127.0.0.1 that accepts connections and never says a word: a libp2p dial
    to it hangs in the handshake, as one to an address that never answers does."""

    PEER_ID = "12D3KooWP8VaqsaSjvKEJnYNd7CfwmAGsNWhVePqj8neeTFdwA5P"

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.addr = f"/ip4/127.0.0.1/tcp/{self.listener.getsockname()[1]}/p2p/{self.PEER_ID}"
        self.accepted = threading.Event()
        self.first_accepted_at: float | None = None  # time.monotonic()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.connections.append(connection)
            if self.first_accepted_at is None:
                self.first_accepted_at = time.monotonic()
            self.accepted.set()

    def __enter__(self) -> SilentPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        for sock in [self.listener, *self.connections]:
            sock.close()


def scrape(url: str) -> dict[str, float]:
    """A Prometheus text page as {'name{labels}': value}."""
    from urllib.request import urlopen

    with urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
