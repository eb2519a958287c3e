"""The probes of health checks (core.health): TCP connect, HTTP GET expecting 2xx, a command's
exit status. Each returns (ok, one line saying why) and never raises for a failing service;
the caller bounds it with the check's timeout."""

from __future__ import annotations

import subprocess
from urllib.parse import urlsplit

import trio

from registry_p2p.core.health import CheckSpec, split_host_port

MAX_STATUS_LINE = 4096


def _reason(exc: OSError) -> str:
    """What went wrong: trio's "all attempts failed" hides each attempt's error in its cause."""
    cause = exc.__cause__
    inner = getattr(cause, "exceptions", None)
    if inner:
        return "; ".join(sorted({str(e.strerror or e) if isinstance(e, OSError) else str(e) for e in inner}))
    return str(exc.strerror or exc)


async def probe_tcp(target: str) -> tuple[bool, str]:
    host, port = split_host_port(target)
    try:
        stream = await trio.open_tcp_stream(host, port)
    except OSError as exc:
        return False, f"connect to {target} failed: {_reason(exc)}"
    await stream.aclose()
    return True, f"connected to {target}"


async def probe_http(url: str) -> tuple[bool, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        stream = await trio.open_tcp_stream(host, port)
    except OSError as exc:
        return False, f"connect to {host}:{port} failed: {_reason(exc)}"
    try:
        name = f"[{host}]" if ":" in host else host
        request = f"GET {path} HTTP/1.0\r\nHost: {name}:{port}\r\nUser-Agent: registry-p2p-health\r\n\r\n"
        await stream.send_all(request.encode("latin-1"))
        head = b""
        while b"\r\n" not in head and len(head) < MAX_STATUS_LINE:
            chunk = await stream.receive_some(MAX_STATUS_LINE)
            if not chunk:
                break
            head += chunk
    except (OSError, trio.BrokenResourceError) as exc:
        return False, f"GET {url} failed: {exc}"
    finally:
        await stream.aclose()
    line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    fields = line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        return False, f"GET {url}: not an HTTP answer ({line[:80]!r})"
    code = int(fields[1])
    return 200 <= code < 300, f"GET {url}: {code}"


async def probe_command(argv: tuple[str, ...]) -> tuple[bool, str]:
    """Run argv (no shell); a cancellation (the check's timeout) kills it."""
    try:
        done = await trio.run_process(
            list(argv), stdin=subprocess.DEVNULL, capture_stdout=True, capture_stderr=True, check=False
        )
    except OSError as exc:
        return False, f"{argv[0]} could not run: {exc}"
    tail = (done.stdout + done.stderr).decode("utf-8", "replace").strip().splitlines()
    return done.returncode == 0, f"exit {done.returncode}" + (f": {tail[-1][:200]}" if tail else "")


async def probe(spec: CheckSpec) -> tuple[bool, str]:
    """Run the probe of a tcp, http or command check once, within its timeout."""
    with trio.move_on_after(spec.timeout_s):
        if spec.kind == "tcp":
            return await probe_tcp(spec.target)
        if spec.kind == "http":
            return await probe_http(spec.target)
        if spec.kind == "command":
            return await probe_command(spec.argv)
        raise ValueError(f"{spec.kind} checks are not probed")
    return False, f"no answer within {spec.timeout_s:g} s"
