"""The `registry-p2p` command: run a node, use the registry from the shell, start a local testnet.

Every client verb runs as a short-lived light node (it stores nothing) that joins the network
through `--bootstrap` or $REGISTRY_P2P_BOOTSTRAP, does one thing and leaves. With `--json` a verb
prints exactly one JSON document on stdout (`watch`: one per line). Any failure exits non-zero
with one line on stderr; `--log-level debug` adds the details (and tracebacks) before it.
"""

# ruff: noqa: E402 (the SIGINT handler below must be in place before the slow imports)

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any, NoReturn

STARTED = time.monotonic()  # --timeout counts from here: loading the modules takes a second too


def stdout_gone() -> None:
    """The reader of stdout went away (`| head -1`): point stdout at /dev/null, so that no later
    write or flush (the interpreter's last one included) fails again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        stdout_gone()


def _fail(text: str, code: int) -> NoReturn:
    flush_stdout()
    sys.stderr.write(f"registry-p2p: error: {text}\n")
    sys.stderr.flush()
    sys.exit(code)


def _interrupted_while_loading(signum: int, frame: Any) -> None:
    _fail("interrupted", 130)


# Loading py-libp2p takes most of a second: Ctrl-C meanwhile ends the command at once (nothing has
# started, nothing needs cleaning up) instead of printing the traceback of an import. The previous
# handler is back once the modules are loaded (see the end of this file).
_sigint_before_loading = signal.getsignal(signal.SIGINT)
if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, _interrupted_while_loading)

import base64
import contextlib
import errno
import fcntl
import json
import logging
import math
import re
import select
import tomllib
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import click
import trio
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from registry_p2p import __version__
from registry_p2p.core.config import HOST_POLICIES, RegistryConfig, config_from_mapping
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.ids import resource_id, resource_id_from_text
from registry_p2p.core.views import Event, Record, Resource, WriteResult
from registry_p2p.node import IDENTITY_FILE, Node, NodeError, load_identity, load_or_create_identity, open_node

T = TypeVar("T")

ENV_BOOTSTRAP = "REGISTRY_P2P_BOOTSTRAP"
DEFAULT_LISTEN = "/ip4/0.0.0.0/tcp/4600"
LOCK_FILE = "node.lock"
NODE_INFO_FILE = "node.json"
LOG_LEVELS = ("debug", "info", "warning", "error")
CONFIG_SECTIONS = ("node", "registry", "limits", "host", "trust")
NODE_KEYS: dict[str, type] = {
    "listen": list,
    "announce": list,
    "bootstrap": list,
    "data_dir": str,
    "metrics": str,
    "log_level": str,
}

log = logging.getLogger("registry_p2p.cli")
err_console = Console(stderr=True, highlight=False, soft_wrap=True)  # one message, one line


class StdoutConsole(Console):
    """Rich on stdout: a reader that went away raises BrokenPipeError, which ends the command
    quietly (see main), where rich itself would exit with status 1."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


class CliError(Exception):
    """A user-facing failure: its text is the one line printed on stderr."""


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped a verb, after its cleanup ran: exit 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__("interrupted" if signum == signal.SIGINT else "terminated")
        self.signum = signum


# ==================================================================== plumbing


def load_config_file(path: str | None) -> tuple[RegistryConfig, dict[str, Any]]:
    """Parse a TOML configuration; every problem names the file and the offending key."""
    if path is None:
        return RegistryConfig(), {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read config file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CliError(f"config file {path} is not UTF-8 text") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"config file {path} is not valid TOML: {exc}") from exc
    for section, value in data.items():
        if section not in CONFIG_SECTIONS:
            raise CliError(f"config file {path}: unknown key {section!r} (sections: {', '.join(CONFIG_SECTIONS)})")
        if not isinstance(value, dict):
            raise CliError(f"config file {path}: {section} must be a table ([{section}])")
    node = dict(data.get("node", {}))
    for key, value in node.items():
        expected = NODE_KEYS.get(key)
        if expected is None:
            raise CliError(f"config file {path}: unknown key node.{key}")
        if not isinstance(value, expected) or (isinstance(value, list) and not all(isinstance(v, str) for v in value)):
            kind = "a list of strings" if expected is list else "a string"
            raise CliError(f"config file {path}: node.{key} must be {kind}")
    if "log_level" in node and node["log_level"] not in LOG_LEVELS:
        raise CliError(f"config file {path}: node.log_level must be one of {', '.join(LOG_LEVELS)}")
    try:
        config = config_from_mapping(data)
    except ValueError as exc:
        raise CliError(f"config file {path}: {exc}") from exc
    return config, node


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    if level in ("warning", "error"):
        # py-libp2p logs routine events (a refused dial, a peer gone) as errors: the registry
        # reports what matters itself, so py-libp2p speaks only at --log-level info or debug.
        for handler in logging.getLogger().handlers:
            handler.addFilter(lambda record: not record.name.startswith("libp2p"))
    if level != "debug":
        # py-libp2p and its dependencies warn about unclosed sockets and deprecations on their own.
        warnings.simplefilter("ignore")


def stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader went away (rather than a socket of py-libp2p's)."""
    poller = select.poll()
    poller.register(sys.stdout.fileno(), select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, separators=(", ", ": ")) + "\n")
    sys.stdout.flush()


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe_error(exc: BaseException) -> tuple[str, int]:
    """The line to print and the exit status for an exception that ended a verb."""
    exc = root_cause(exc)
    if isinstance(exc, CliError | NodeError):
        return str(exc), 1
    if isinstance(exc, RegistryError):
        return exc.text, 1
    if isinstance(exc, Interrupted):
        return str(exc), 128 + exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(exc, trio.TooSlowError):
        return "timed out", 1
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}", 1
    return f"internal error: {type(exc).__name__}: {exc} (run with --log-level debug for details)", 70


def root_cause(exc: BaseException) -> BaseException:
    """The most telling leaf of an exception group (trio nurseries wrap what they raise)."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    leaves = [root_cause(e) for e in exc.exceptions]
    for kind in (CliError, NodeError, RegistryError, Interrupted, KeyboardInterrupt):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    meaningful = [leaf for leaf in leaves if not isinstance(leaf, trio.Cancelled)]
    return (meaningful or leaves)[0]


def run(async_fn: Callable[[], Awaitable[T]]) -> T:
    """Run the async part of a verb. SIGINT and SIGTERM cancel it, so that its cleanup runs, and
    then raise Interrupted: a KeyboardInterrupt thrown into py-libp2p's tasks can surface as
    anything (a TrioInternalError among others)."""
    return trio.run(lambda: until_signal(async_fn))


async def until_signal(body: Callable[[], Awaitable[T]]) -> T:
    """`body`, cancelled by SIGINT or SIGTERM (see run)."""
    signums: list[int] = []
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def on_signal() -> None:
                async for signum in signals:
                    log.info("received %s: stopping", signal.Signals(signum).name)
                    signums.append(signum)
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(on_signal)
            result = await body()
            nursery.cancel_scope.cancel()
            return result
    raise Interrupted(signums[0])


def run_server(body: Callable[[], Awaitable[None]], ready: Callable[[], bool]) -> None:
    """Run a node or a testnet: once it is ready, a signal is how it stops (exit 0); before, the
    signal interrupted its start."""
    try:
        run(body)
    except Interrupted:
        if not ready():
            raise


@contextlib.contextmanager
def step(text: str) -> Iterator[None]:
    """A spinner on stderr while something that can take a second runs (terminals only)."""
    if err_console.is_terminal:
        with err_console.status(text):
            yield
    else:
        yield


# ---------------------------------------------------------------- addresses, identities, data dirs


def parse_bootstrap(values: tuple[str, ...] | list[str]) -> list[str]:
    """Check each bootstrap multiaddr (it must end in /p2p/<peer id>); one line on failure."""
    from multiaddr import Multiaddr

    out = []
    for value in values:
        try:
            addr = Multiaddr(value)
        except Exception as exc:
            raise CliError(f"bootstrap address {value!r} is not a multiaddr: {_multiaddr_reason(exc)}") from exc
        if "p2p" not in [p.name for p in addr.protocols()]:
            raise CliError(f"bootstrap address {value!r} needs a /p2p/<peer id> part")
        out.append(str(addr))
    return out


def parse_listen(values: list[str], what: str = "listen") -> list[str]:
    from multiaddr import Multiaddr

    out = []
    for value in values:
        try:
            out.append(str(Multiaddr(value)))
        except Exception as exc:
            raise CliError(f"{what} address {value!r} is not a multiaddr: {_multiaddr_reason(exc)}") from exc
    return out


def _multiaddr_reason(exc: Exception) -> str:
    text = one_line(str(exc))
    match = re.search(r"': (.*?)(?: \(string: .*\))?$", text)
    return match.group(1) if match else text


def bootstrap_from(flags: tuple[str, ...], file_values: list[str] | None = None) -> list[str]:
    if flags:
        values = list(flags)
    elif os.environ.get(ENV_BOOTSTRAP, "").strip():
        values = [v for v in re.split(r"[,\s]+", os.environ[ENV_BOOTSTRAP]) if v]
    else:
        values = list(file_values or [])
    return parse_bootstrap(values)


class DataDirLock:
    """An exclusive lock on a node's data dir (flock: released by the kernel even on kill -9)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise CliError(f"data dir {data_dir} is in use by another registry-p2p node") from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, str(os.getpid()).encode())

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def node_running_on(data_dir: Path) -> bool:
    path = data_dir / LOCK_FILE
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, replaced atomically)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def client_identity(data_dir: str | None, key_file: str | None, needed: bool) -> Any:
    """The key pair a client verb signs with; None (an ephemeral key) for read-only verbs."""
    if data_dir and key_file:
        raise click.UsageError("give --data-dir or --key-file, not both")
    if key_file:
        return load_identity(key_file)
    if data_dir:
        directory = Path(data_dir)
        if not directory.is_dir():
            raise CliError(
                f"data dir {data_dir} does not exist"
                f" (create an identity there: registry-p2p keygen --data-dir {data_dir})"
            )
        if node_running_on(directory):
            raise CliError(
                f"data dir {data_dir} belongs to a running node; a client needs an identity of its own"
                " (registry-p2p keygen --data-dir DIR)"
            )
        return load_or_create_identity(directory)
    if needed:
        raise click.UsageError(
            "this command signs with your identity: pass --data-dir DIR or --key-file FILE"
            " (create one with registry-p2p keygen)"
        )
    return None


# ---------------------------------------------------------------- JSON and tables


def record_json(record: Record) -> dict[str, Any]:
    try:
        text: str | None = record.value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {
        "resource_id": record.resource_id,
        "issuer": record.issuer,
        "host": record.host,
        "service_id": record.service_id,
        "value_text": text,
        "value_base64": base64.b64encode(record.value).decode("ascii"),
        "issued_at_ms": record.issued_at_ms,
        "expires_at_ms": record.expires_at_ms,
        "addrs": list(record.addrs),
        "weight": record.weight,
    }


def resource_json(resource: Resource) -> dict[str, Any]:
    return {
        "resource_id": resource.id,
        "label": resource.label,
        "owner": resource.owner,
        "created_at_ms": resource.created_at_ms,
    }


def write_json(result: WriteResult) -> dict[str, Any]:
    return {"ok": result.ok, "acks": result.acks, "errors": dict(result.errors)}


def event_json(event: Event) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "resource_id": event.resource_id,
        "issuer": event.issuer,
        "host": event.host,
        "service_id": event.service_id,
        "record": record_json(event.record) if event.record is not None else None,
    }


def _value_cell(value: bytes, width: int = 60) -> str:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = "base64:" + base64.b64encode(value).decode("ascii")
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def _expires_in(ms: int) -> str:
    left = max(0, ms - int(time.time() * 1000)) // 1000
    hours, rest = divmod(left, 3600)
    return f"in {hours}h{rest // 60:02d}m" if hours else f"in {rest // 60}m{rest % 60:02d}s"


def records_table(records: list[Record]) -> Table:
    table = Table(show_edge=False, header_style="bold")
    table.add_column("service", overflow="fold")
    table.add_column("host", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("expires", no_wrap=True)
    table.add_column("addrs", overflow="fold")
    for r in records:
        table.add_row(
            escape(r.service_id) or '""',
            r.host,
            escape(_value_cell(r.value)),
            _expires_in(r.expires_at_ms),
            "\n".join(r.addrs) or "-",
        )
    return table


# ==================================================================== the command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="registry-p2p")
def cli() -> None:
    """A decentralized service registry for libp2p networks.

    Run a node with `registry-p2p node`, or try everything locally with `registry-p2p testnet`.
    Client verbs (resource, register, unregister, resolve, watch) join a network through
    --bootstrap MULTIADDR or $REGISTRY_P2P_BOOTSTRAP.
    """


def _json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(fn)


def _log_option(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--log-level", type=click.Choice(LOG_LEVELS), default=None, help=f"Logging on stderr [default: {default}]."
    )


def client_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options every network client verb shares."""
    decorators: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.option(
            "--bootstrap",
            "-b",
            multiple=True,
            metavar="MULTIADDR",
            help=f"A peer to join through, /…/p2p/<peer id> (repeatable; default: ${ENV_BOOTSTRAP}).",
        ),
        click.option("--data-dir", type=click.Path(), help="Directory holding your identity key (identity.key)."),
        click.option("--key-file", type=click.Path(), help="Your identity key file (see registry-p2p keygen)."),
        click.option("--config", "config_path", type=click.Path(), help="TOML configuration (limits, timeouts)."),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            help="Bound in seconds on the whole command, joining included (watch: until it watches), and on"
            " each request [default: 6 per request].",
        ),
        _log_option("error"),
        _json_option,
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


@dataclass
class ClientArgs:
    bootstrap: tuple[str, ...]
    data_dir: str | None
    key_file: str | None
    config_path: str | None
    timeout: float | None
    log_level: str | None
    as_json: bool


def _client_args(kwargs: dict[str, Any]) -> ClientArgs:
    return ClientArgs(**{name: kwargs.pop(name) for name in ClientArgs.__dataclass_fields__})


class Client:
    """A verb's view of the network: a light node joined through the bootstrap peers."""

    def __init__(self, args: ClientArgs, *, signs: bool) -> None:
        configure_logging(args.log_level or "error")
        self.json = args.as_json
        config, node_table = load_config_file(args.config_path)
        if args.timeout is not None:
            config = replace(config, request_timeout_s=args.timeout)
        self.config = config
        self.timeout = args.timeout
        self.bound: trio.CancelScope | None = None  # --timeout, see run()
        self.doing = "starting"
        self.key_pair = client_identity(args.data_dir, args.key_file, signs)
        self.bootstrap = bootstrap_from(args.bootstrap, node_table.get("bootstrap"))
        if not self.bootstrap:
            raise click.UsageError(f"no bootstrap peer: pass --bootstrap MULTIADDR or set {ENV_BOOTSTRAP}")
        if self.key_pair is not None:
            me = _peer_id_of(self.key_pair)
            if any(addr.endswith(f"/p2p/{me}") for addr in self.bootstrap):
                raise CliError(f"your identity {me} is the bootstrap peer's: a client needs an identity of its own")

    @contextlib.asynccontextmanager
    async def join(self) -> AsyncIterator[Node]:
        async with contextlib.AsyncExitStack() as stack:
            self.doing = f"joining the network through {len(self.bootstrap)} bootstrap peer(s)"
            with step(self.doing):
                node = await stack.enter_async_context(
                    open_node(
                        [],
                        self.bootstrap,
                        key_pair=self.key_pair,
                        config=self.config,
                        serve=False,
                        require_bootstrap=True,
                    )
                )
            self.doing = "waiting for the network's answers"
            yield node
            # Writes go on reaching the rest of the replica set after `ack` answers: let them land.
            with step("finishing background writes"):
                await node.registry.settle()

    def run(self, body: Callable[[Node], Awaitable[T]]) -> T:
        """Join, run `body`, leave. With --timeout, all of it (the bootstrap dials and the wait for
        pubsub included, which open_node bounds at 10 s each) ends after that many seconds."""

        async def bounded() -> T:
            done: list[T] = []
            elapsed = time.monotonic() - STARTED
            bound = math.inf if self.timeout is None else trio.current_time() + self.timeout - elapsed
            with trio.CancelScope(deadline=bound) as self.bound:
                async with self.join() as node:
                    done.append(await body(node))
            if done:
                return done[0]  # the time ran out while background writes went on: they were acknowledged
            raise CliError(f"timed out after {self.timeout:g} s (--timeout) {self.doing}")

        return run(bounded)

    def unbounded(self) -> None:
        """From here on the verb runs until it is stopped (watch): --timeout no longer applies."""
        if self.bound is not None:
            self.bound.deadline = math.inf

    def limits(self) -> Any:
        return self.config.limits


def utf8_text(ctx: click.Context, param: click.Parameter, text: str) -> str:
    """Labels and service ids are strings on the wire. Python hands argv bytes that are not UTF-8
    over as lone surrogates, which no encoder accepts: a usage error."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise click.BadParameter(f"{os.fsencode(text)!r} is not UTF-8 text", ctx, param) from None
    return text


def value_bytes(value: str | None, value_file: str | None) -> bytes:
    """A record's value: bytes, taken from argv as they are (`os.fsencode` undoes the surrogate
    escapes of what is not UTF-8), or from a file or stdin (-)."""
    if value is not None and value_file is not None:
        raise click.UsageError("give --value or --value-file, not both")
    if value is not None:
        return os.fsencode(value)
    if value_file is None:
        raise click.UsageError("Missing option '--value' (or '--value-file').")
    if value_file == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(value_file).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read value file {value_file}: {exc.strerror}") from exc


def check_resource_id(text: str) -> str:
    resource_id_from_text(text)  # raises RegistryError(MALFORMED) with a readable text
    return text.strip()


def check_size(what: str, data: bytes, limit: int, key: str) -> None:
    if len(data) > limit:
        raise CliError(f"{what} is {len(data)} bytes; the limit is {limit} bytes (limits.{key})")


async def resource_must_exist(node: Node, rid: str) -> Resource:
    found = await node.registry.get_resource(rid)
    if found is None:
        raise CliError(f"resource {rid} not found (no peer of the network knows it)")
    return found


# ---------------------------------------------------------------- keygen, id


@cli.command()
@click.option("--data-dir", type=click.Path(), help="Create DIR (0700) with DIR/identity.key (0600).")
@click.option("--key-file", type=click.Path(), help="Write the key to FILE (0600).")
@_json_option
def keygen(data_dir: str | None, key_file: str | None, as_json: bool) -> None:
    """Create an ed25519 identity (never overwrites one)."""
    configure_logging("error")
    if bool(data_dir) == bool(key_file):
        raise click.UsageError("pass exactly one of --data-dir DIR or --key-file FILE")
    if data_dir:
        path = Path(data_dir) / IDENTITY_FILE
        if path.exists():
            raise CliError(f"{path} already exists; keygen never overwrites an identity")
        key_pair = load_or_create_identity(data_dir)
    else:
        from libp2p.crypto.ed25519 import create_new_key_pair

        path = Path(str(key_file))
        key_pair = create_new_key_pair()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CliError(f"{path} already exists; keygen never overwrites an identity") from None
        except OSError as exc:
            raise CliError(f"cannot create {path}: {exc.strerror}") from exc
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_pair.private_key.serialize())
    peer_id = _peer_id_of(key_pair)
    if as_json:
        emit_json({"peer_id": peer_id, "path": str(path)})
    else:
        click.echo(f"peer id {peer_id}\nkey     {path}")


def _peer_id_of(key_pair: Any) -> str:
    from libp2p.peer.id import ID

    return str(ID.from_pubkey(key_pair.public_key))


@cli.command("id")
@click.option("--data-dir", type=click.Path(), help="A node's or a client's data dir.")
@click.option("--key-file", type=click.Path(), help="An identity key file.")
@_json_option
def id_(data_dir: str | None, key_file: str | None, as_json: bool) -> None:
    """Show the peer id of an identity, and the addresses of the node running on DATA_DIR."""
    configure_logging("error")
    if bool(data_dir) == bool(key_file):
        raise click.UsageError("pass exactly one of --data-dir DIR or --key-file FILE")
    addrs: list[str] = []
    if data_dir:
        directory = Path(data_dir)
        if not directory.is_dir():
            raise CliError(f"data dir {data_dir} does not exist")
        if not (directory / IDENTITY_FILE).exists():
            raise CliError(f"data dir {data_dir} holds no identity ({IDENTITY_FILE}); create one with keygen")
        key_pair = load_identity(directory / IDENTITY_FILE)
        info = directory / NODE_INFO_FILE
        if node_running_on(directory) and info.exists():
            with contextlib.suppress(ValueError, OSError):
                addrs = list(json.loads(info.read_text()).get("addrs", []))
    else:
        key_pair = load_identity(str(key_file))
    peer_id = _peer_id_of(key_pair)
    if as_json:
        emit_json({"peer_id": peer_id, "addrs": addrs})
    else:
        click.echo(f"peer id {peer_id}")
        for addr in addrs:
            click.echo(f"addr    {addr}")


# ---------------------------------------------------------------- node


@cli.command()
@click.option(
    "--listen",
    "-l",
    multiple=True,
    metavar="MULTIADDR",
    help=f"Listen address (repeatable) [default: {DEFAULT_LISTEN}].",
)
@click.option(
    "--announce",
    multiple=True,
    metavar="MULTIADDR",
    help="Advertise this address instead of the listen addresses (repeatable): a public address, a DNS name.",
)
@click.option("--bootstrap", "-b", multiple=True, metavar="MULTIADDR", help="A peer to join through (repeatable).")
@click.option(
    "--data-dir",
    type=click.Path(),
    help="Identity key and SQLite store (created 0700). Without it, nothing survives a restart.",
)
@click.option("--config", "config_path", type=click.Path(), help="TOML configuration (see examples/registry-p2p.toml).")
@click.option("--metrics", metavar="HOST:PORT", help="Serve Prometheus metrics on http://HOST:PORT/metrics.")
@click.option(
    "--host-policy", type=click.Choice(HOST_POLICIES), help="Whose records this node countersigns [default: self-only]."
)
@_log_option("warning")
@_json_option
def node(
    listen: tuple[str, ...],
    announce: tuple[str, ...],
    bootstrap: tuple[str, ...],
    data_dir: str | None,
    config_path: str | None,
    metrics: str | None,
    host_policy: str | None,
    log_level: str | None,
    as_json: bool,
) -> None:
    """Run a storage (or bootstrap) node until SIGINT or SIGTERM.

    When ready it prints its peer id and full multiaddrs (with --json: one JSON line
    {"event": "ready", "peer_id": ..., "addrs": [...]}); a restart on the same --data-dir keeps the
    identity and every entry, and re-announces them to their replica sets.
    """
    config, table = load_config_file(config_path)
    level = log_level or table.get("log_level", "warning")
    configure_logging(level)
    if host_policy is not None:
        config = replace(config, host_policy=host_policy)
    listen_addrs = parse_listen(list(listen) or table.get("listen") or [DEFAULT_LISTEN])
    announce_addrs = parse_listen(list(announce) or table.get("announce") or [], what="announce")
    boot = parse_bootstrap(list(bootstrap) or table.get("bootstrap") or [])
    directory = data_dir or table.get("data_dir")
    metrics_at = _parse_host_port(metrics or table.get("metrics"))
    out = NodeOutput(as_json)
    run_server(
        lambda: serve_node(listen_addrs, announce_addrs, boot, directory, config, metrics_at, out), lambda: out.ready
    )
    out.event("stopped", "node stopped")


def _parse_host_port(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    host, _, port = value.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise CliError(f"--metrics expects HOST:PORT (such as 127.0.0.1:9464), not {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class NodeOutput:
    """Human lines on stdout, or JSON lines ({"event": ...}) with --json."""

    def __init__(self, as_json: bool) -> None:
        self.json = as_json
        self.console = StdoutConsole(highlight=False)
        self.ready = False

    def event(self, kind: str, text: str, **fields: Any) -> None:
        self.ready = self.ready or kind == "ready"
        if self.json:
            emit_json({"event": kind, **fields})
        else:
            self.console.print(text, soft_wrap=True)
            sys.stdout.flush()


async def serve_node(
    listen: list[str],
    announce: list[str],
    bootstrap: list[str],
    data_dir: str | None,
    config: RegistryConfig,
    metrics_at: tuple[str, int] | None,
    out: NodeOutput,
) -> None:
    directory = Path(data_dir) if data_dir else None
    lock = None
    if directory is not None:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(f"cannot create data dir {directory}: {exc.strerror}") from exc
        lock = DataDirLock(directory)
    else:
        log.warning("no --data-dir: the identity and every entry are lost when this node stops")
    try:
        async with contextlib.AsyncExitStack() as stack:
            with step("starting the node" + (f" and joining through {len(bootstrap)} peer(s)" if bootstrap else "")):
                node = await stack.enter_async_context(
                    open_node(
                        listen,
                        bootstrap,
                        directory,
                        None,
                        config,
                        serve=True,
                        require_bootstrap=bool(bootstrap),
                        announce=announce,
                    )
                )
            await _run_node(node, directory, metrics_at, out)
    finally:
        if directory is not None and lock is not None:
            with contextlib.suppress(OSError):
                (directory / NODE_INFO_FILE).unlink()
            lock.release()


async def _run_node(node: Node, directory: Path | None, metrics_at: tuple[str, int] | None, out: NodeOutput) -> None:
    from registry_p2p.metrics import NodeMetrics

    metrics = None
    metrics_url = None
    if metrics_at is not None:
        metrics = NodeMetrics(node)
        try:
            host, port = metrics.serve(*metrics_at)
        except OSError as exc:
            raise CliError(f"cannot serve metrics on {metrics_at[0]}:{metrics_at[1]}: {exc.strerror}") from exc
        metrics_url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/metrics"
    try:
        addrs = node.addrs
        info = {"peer_id": node.peer_id, "addrs": addrs, "data_dir": str(directory.resolve()) if directory else None}
        if metrics_url:
            info["metrics"] = metrics_url
        if directory is not None:
            write_private(directory / NODE_INFO_FILE, json.dumps({**info, "pid": os.getpid()}))
        lines = [f"[bold]registry-p2p node ready[/]  peer id {node.peer_id}"]
        lines += [f"  listening on {a}" for a in addrs]
        if metrics_url:
            lines.append(f"  metrics at   {metrics_url}")
        lines.append(f"  data dir     {info['data_dir']}" if directory else "  data dir     none (in memory)")
        out.event("ready", "\n".join(lines), **info)
        _restored(node, node.registry.config, out)
        await trio.sleep_forever()
    finally:
        if metrics is not None:
            metrics.close()


def _restored(node: Node, config: RegistryConfig, out: NodeOutput) -> None:
    """Say what the data dir brought back; the registry re-announces it to the replica sets."""
    if node.store is None:
        return
    counts = node.store.counts()
    if not counts["resources"]:
        return
    delay = config.startup_replicate_delay_s
    when = f"within {delay:g} s" if delay is not None else "at the first replication round"
    out.event(
        "restored",
        f"restored {counts['resources']} resource(s), {counts['records']} record(s) and "
        f"{counts['tombstones']} tombstone(s) from the data dir; re-announcing them {when}",
        **counts,
    )


# ---------------------------------------------------------------- resource


@cli.group()
def resource() -> None:
    """Create, fetch or compute the id of a resource (a named, owner-signed group of services)."""


@resource.command("create")
@click.argument("label", callback=utf8_text)
@client_options
def resource_create(label: str, **kwargs: Any) -> None:
    """Create the resource LABEL owned by your identity; prints its id."""
    client = Client(_client_args(kwargs), signs=True)
    check_size("label", label.encode("utf-8"), client.limits().max_label_bytes, "max_label_bytes")

    async def body(node: Node) -> str:
        return await node.registry.create_resource(label)

    rid = client.run(body)
    if client.json:
        emit_json({"resource_id": rid})
    else:
        click.echo(rid)


@resource.command("get")
@click.argument("resource_id")
@client_options
def resource_get(resource_id: str, **kwargs: Any) -> None:
    """Fetch a resource (label, owner, creation time) from the network."""
    rid = check_resource_id(resource_id)
    client = Client(_client_args(kwargs), signs=False)
    found = client.run(lambda node: resource_must_exist(node, rid))
    if client.json:
        emit_json(resource_json(found))
    else:
        click.echo(
            f"id      {found.id}\nlabel   {found.label}\nowner   {found.owner}\ncreated {_when(found.created_at_ms)}"
        )


@resource.command("id")
@click.argument("label", callback=utf8_text)
@click.option("--owner", metavar="PEER_ID", help="The owner's peer id [default: the identity given].")
@click.option("--data-dir", type=click.Path(), help="Take the owner from this identity.")
@click.option("--key-file", type=click.Path(), help="Take the owner from this identity key.")
@_json_option
def resource_id_cmd(label: str, owner: str | None, data_dir: str | None, key_file: str | None, as_json: bool) -> None:
    """Compute the id of LABEL owned by PEER_ID (offline)."""
    configure_logging("error")
    if owner is None:
        key_pair = client_identity(data_dir, key_file, needed=False)
        if key_pair is None:
            raise click.UsageError("pass --owner PEER_ID (or the owner's --data-dir / --key-file)")
        owner = _peer_id_of(key_pair)
    rid = resource_id(label, owner)
    if as_json:
        emit_json({"resource_id": rid})
    else:
        click.echo(rid)


# ---------------------------------------------------------------- register, unregister, resolve, watch


@cli.command()
@click.argument("resource_id")
@click.option("--value", help="The advertisement (up to 4 KiB, its bytes as given): an address, a URL, JSON…")
@click.option("--value-file", metavar="FILE", help="Read the value from FILE (-: from stdin) instead of --value.")
@click.option(
    "--service-id", callback=utf8_text, default="", show_default=True, help="Names the service within the resource."
)
@click.option("--ttl", type=click.IntRange(min=1), help="Seconds the record lives [default: 86400].")
@click.option("--ack", type=click.IntRange(min=1), default=1, show_default=True, help="Replicas that must store it.")
@click.option("--host", "host_peer", metavar="PEER_ID", help="Another peer that hosts the service (it must consent).")
@client_options
def register(
    resource_id: str,
    value: str | None,
    value_file: str | None,
    service_id: str,
    ttl: int | None,
    ack: int,
    host_peer: str | None,
    **kwargs: Any,
) -> None:
    """Advertise a service in a resource, signed by your identity."""
    rid = check_resource_id(resource_id)
    data = value_bytes(value, value_file)
    client = Client(_client_args(kwargs), signs=True)
    limits = client.limits()
    check_size("value", data, limits.max_value_bytes, "max_value_bytes")
    check_size("service id", service_id.encode("utf-8"), limits.max_service_id_bytes, "max_service_id_bytes")
    if ttl is not None and not limits.min_ttl_s <= ttl <= limits.max_ttl_s:
        raise click.UsageError(f"--ttl must be between {limits.min_ttl_s} and {limits.max_ttl_s} seconds")

    async def body(node: Node) -> WriteResult:
        # A remote host that cannot be reached fails here, before anything is written.
        return await node.registry.register_service(
            rid, data, service_id=service_id, peer_id=host_peer, ttl=ttl, ack=ack
        )

    report_write(client, client.run(body), ack, "registered")


@cli.command()
@click.argument("resource_id")
@click.option("--service-id", callback=utf8_text, default="", show_default=True, help="The service to withdraw.")
@click.option("--ack", type=click.IntRange(min=1), default=1, show_default=True, help="Replicas that must store it.")
@click.option("--host", "host_peer", metavar="PEER_ID", help="The peer hosting the record [default: you].")
@client_options
def unregister(resource_id: str, service_id: str, ack: int, host_peer: str | None, **kwargs: Any) -> None:
    """Withdraw your record from a resource (a signed tombstone)."""
    rid = check_resource_id(resource_id)
    client = Client(_client_args(kwargs), signs=True)

    async def body(node: Node) -> WriteResult:
        return await node.registry.unregister_service(rid, service_id=service_id, peer_id=host_peer, ack=ack)

    report_write(client, client.run(body), ack, "unregistered")


def report_write(client: Client, result: WriteResult, ack: int, done: str) -> None:
    if client.json:
        emit_json(write_json(result))
    elif result.ok:
        click.echo(f"{done}: stored by {result.acks} replica(s)")
    if not result.ok:
        raise CliError(write_shortfall(result, ack))


def write_shortfall(result: WriteResult, ack: int) -> str:
    """Why fewer than `ack` replicas stored a write: the replicas that failed, and a replica set
    smaller than `ack`."""
    text = f"stored on {result.acks} of the {ack} replicas asked for"
    if result.errors:
        text += "; " + "; ".join(f"{peer}: {why}" for peer, why in list(result.errors.items())[:3])
    if result.replicas < ack:
        text += f"; the replica set has only {result.replicas} peer{'s' if result.replicas != 1 else ''}"
    return text


@cli.command()
@click.argument("resource_id")
@click.option(
    "--ack", type=click.IntRange(min=1), default=1, show_default=True, help="Replicas whose answers to merge."
)
@client_options
def resolve(resource_id: str, ack: int, **kwargs: Any) -> None:
    """List the live records of a resource."""
    rid = check_resource_id(resource_id)
    client = Client(_client_args(kwargs), signs=False)

    async def body(node: Node) -> list[Record]:
        try:
            return await node.registry.resolve(rid, ack=ack)
        except RegistryError as err:
            if err.status is Status.UNAVAILABLE:
                await resource_must_exist(node, rid)  # "not found" says more than "no answer"
            raise

    records = client.run(body)
    if client.json:
        emit_json({"records": [record_json(r) for r in records]})
    elif records:
        console = StdoutConsole(highlight=False)
        if not console.is_terminal:
            console = StdoutConsole(highlight=False, width=240)  # piped: one record per line when it fits
        console.print(records_table(records))
    else:
        click.echo("no records")


@cli.command()
@click.argument("resource_id")
@client_options
def watch(resource_id: str, **kwargs: Any) -> None:
    """Print the current records, then every change, until Ctrl-C (--json: one object per line).

    When every peer is gone it says so, and once its bootstrap peers answer again (the node dials
    them meanwhile) it watches again from the current records.
    """
    rid = check_resource_id(resource_id)
    client = Client(_client_args(kwargs), signs=False)
    console = StdoutConsole(highlight=False, soft_wrap=True)  # one event, one line

    async def show(events: AsyncIterator[Event]) -> None:
        async for event in events:
            if client.json:
                emit_json(event_json(event))
                continue
            line = f"{time.strftime('%H:%M:%S')} {event.kind:<12} service={event.service_id!r} host={event.host}"
            if event.record is not None:
                line += f" value={_value_cell(event.record.value)!r}"
            console.print(escape(line))
            sys.stdout.flush()

    async def body(node: Node) -> None:
        await resource_must_exist(node, rid)
        back_through = None
        while True:
            # Entered again after an outage: the replica set may have changed, and the changes
            # made meanwhile were never announced to us; the snapshot has them.
            async with node.registry.watch(rid) as events:
                if back_through is None:
                    err_console.print(f"watching {rid} (Ctrl-C to stop)")
                    client.unbounded()
                else:
                    err_console.print(f"reconnected to {back_through}: watching again (the records follow)")
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(show, events)
                    await _until_alone(node)
                    nursery.cancel_scope.cancel()
            err_console.print("lost every peer of the network: reconnecting through the bootstrap peers")
            back_through = await _until_connected(node)

    client.run(body)


WATCH_POLL_S = 0.5


async def _until_alone(node: Node) -> None:
    """Return once the node has no connection left (its peers stopped, or the network is down)."""
    while node.host.get_connected_peers():
        await trio.sleep(WATCH_POLL_S)


async def _until_connected(node: Node) -> str:
    """Wait for a connection again (open_node dials the bootstrap peers, backing off): its peer id."""
    while not (peers := node.host.get_connected_peers()):
        await trio.sleep(WATCH_POLL_S)
    return str(peers[0])


# ---------------------------------------------------------------- testnet


@cli.command()
@click.option(
    "--nodes", "-n", type=click.IntRange(min=1, max=100), default=None, help="How many nodes [default: 5, demo: 9]."
)
@click.option(
    "--base-port",
    type=click.IntRange(min=0, max=65535),
    default=0,
    help="Node i listens on 127.0.0.1:P+i [default: any free port].",
)
@click.option("--data-dir", type=click.Path(), help="Keep each node's identity and store in DIR/node<i>.")
@click.option(
    "--demo", is_flag=True, help="Register example services, stop a third of the nodes, show that nothing was lost."
)
@_log_option("error")
@_json_option
def testnet(
    nodes: int | None, base_port: int, data_dir: str | None, demo: bool, log_level: str | None, as_json: bool
) -> None:
    """Run N nodes on loopback in one process (until Ctrl-C), or the demo."""
    from registry_p2p import testnet as tn

    configure_logging(log_level or "error")
    console = StdoutConsole(highlight=False, soft_wrap=True)
    if demo:
        count = nodes or 9
        if count < 6:
            raise click.UsageError("the demo needs at least 6 nodes")
        if not run(lambda: tn.run_demo(console, count, base_port)):
            raise CliError("the demo lost records (see above)")
        return
    count = nodes or 5
    directory = Path(data_dir) if data_dir else None
    ready = False

    async def body() -> None:
        nonlocal ready
        async with tn.testnet(count, RegistryConfig(), base_port, directory, console=err_console) as net:
            ready = True
            if as_json:
                emit_json(
                    {
                        "event": "ready",
                        "bootstrap": net.bootstrap[0],
                        "nodes": [{"peer_id": n.peer_id, "addrs": n.addrs} for n in net.nodes],
                    }
                )
            else:
                console.print(f"[bold]{count} nodes running on 127.0.0.1[/] (Ctrl-C to stop)")
                for n in net.nodes:
                    console.print(f"  {net.name(n.peer_id):<7} {n.addrs[0]}")
                console.print(f"\nbootstrap address:\n  export {ENV_BOOTSTRAP}={net.bootstrap[0]}")
                console.print(
                    "then, for example:\n  registry-p2p keygen --key-file me.key\n"
                    "  registry-p2p resource create my-service --key-file me.key"
                )
                sys.stdout.flush()
            await trio.sleep_forever()

    run_server(body, lambda: ready)


# ==================================================================== entry point


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("bench_args", nargs=-1, type=click.UNPROCESSED)
def bench(bench_args: tuple[str, ...]) -> None:
    """Measure the registry against py-libp2p's DHT records on a loopback network (--help for options)."""
    from registry_p2p.tools import bench as bench_module

    sys.exit(bench_module.main(list(bench_args)))


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one line on stderr and a non-zero status for any failure."""
    try:
        status = cli.main(args=argv, prog_name="registry-p2p", standalone_mode=False)
    except click.exceptions.Abort:
        _fail("interrupted", 130)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError):
            hint = f" (see {exc.ctx.command_path if exc.ctx else 'registry-p2p'} --help)"
        _fail(one_line(exc.format_message()) + hint, exc.exit_code)
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        if isinstance(root_cause(exc), BrokenPipeError) and stdout_closed():
            # As for any Unix filter, output that nobody reads any more is no failure.
            stdout_gone()
            sys.exit(0)
        text, code = describe_error(exc)
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            log.debug("failure", exc_info=exc)
        _fail(one_line(text), code)
    sys.exit(status if isinstance(status, int) else 0)


if signal.getsignal(signal.SIGINT) is _interrupted_while_loading:
    signal.signal(signal.SIGINT, _sigint_before_loading or signal.default_int_handler)

if __name__ == "__main__":
    main()
