"""`open_node(...)`: a ready py-libp2p host + Kademlia DHT + gossipsub + Registry.

Every py-libp2p workaround of DESIGN §8 is applied here, once (the helpers live in adapter/),
and nothing is left running when the `async with` block exits: no listener, thread or socket.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.serialization import deserialize_private_key
from libp2p.kad_dht import DHTMode, KadDHT
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.records.validator import NamespacedValidator
from libp2p.tools.anyio_service import background_trio_service
from multiaddr import Multiaddr

from registry_p2p.adapter.dialing import fast_dial_config
from registry_p2p.adapter.keys import make_verifier
from registry_p2p.adapter.logs import route_libp2p_logging
from registry_p2p.adapter.ports import claim_listen_ports
from registry_p2p.adapter.pruning import trimming_idle_connections
from registry_p2p.adapter.pubsub import cache_advertised_addrs, make_gossipsub, stop_pubsub_thread
from registry_p2p.adapter.security import noise_only
from registry_p2p.adapter.shutdown import close_host
from registry_p2p.core.config import RegistryConfig
from registry_p2p.net.addrs import addrs_factory
from registry_p2p.net.bootstrap import JOIN_TIMEOUT_S, BootstrapUnreachable, join, resolved
from registry_p2p.registry import Registry, mount, wall_clock_ms
from registry_p2p.store import Store

if TYPE_CHECKING:
    from registry_p2p.adapter.types import DhtLike, HostLike, PubsubLike

log = logging.getLogger("registry_p2p.node")

IDENTITY_FILE = "identity.key"
STORE_FILE = "registry.sqlite"


class NodeError(Exception):
    """A node could not start: bad address, unreachable bootstrap, unusable data dir."""


def load_or_create_identity(data_dir: str | os.PathLike[str]) -> KeyPair:
    """The node's key pair, kept in `<data_dir>/identity.key` (mode 0600, directory 0700)."""
    directory = Path(data_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / IDENTITY_FILE
    if path.exists():
        return load_identity(path)
    key_pair = create_new_key_pair()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pair.private_key.serialize())
    return key_pair


def load_identity(path: str | os.PathLike[str]) -> KeyPair:
    try:
        private = deserialize_private_key(Path(path).read_bytes())
    except OSError as exc:
        raise NodeError(f"cannot read identity key {path}: {exc.strerror}") from exc
    except Exception as exc:
        raise NodeError(f"{path} is not a libp2p private key") from exc
    return KeyPair(private, private.get_public_key())


def parse_multiaddrs(addrs: Sequence[str | Multiaddr], what: str) -> list[Multiaddr]:
    out = []
    for addr in addrs:
        try:
            out.append(addr if isinstance(addr, Multiaddr) else Multiaddr(addr))
        except Exception as exc:
            raise NodeError(f"{what} {addr!r} is not a multiaddr: {exc}") from exc
    return out


@dataclass
class Node:
    host: HostLike
    dht: DhtLike
    pubsub: PubsubLike
    registry: Registry
    store: Store | None

    @property
    def peer_id(self) -> str:
        return str(self.host.get_id())

    @property
    def addrs(self) -> list[str]:
        return [str(a) for a in self.host.get_addrs()]

    async def connect(self, addr: str | Multiaddr) -> None:
        """Dial a peer (`/…/p2p/<id>`, a `/dns4/` or `/dns6/` name resolved first) and add it to the
        routing table."""
        info = await resolved(info_from_p2p_addr(addr if isinstance(addr, Multiaddr) else Multiaddr(addr)))
        with trio.fail_after(JOIN_TIMEOUT_S):
            await self.host.connect(info)
        await self.dht.add_peer(info.peer_id)


@asynccontextmanager
async def open_node(
    listen_addrs: Sequence[str | Multiaddr] = ("/ip4/127.0.0.1/tcp/0",),
    bootstrap: Sequence[str | Multiaddr] = (),
    data_dir: str | os.PathLike[str] | None = None,
    key_pair: KeyPair | None = None,
    config: RegistryConfig | None = None,
    *,
    serve: bool = True,
    clock_ms: Callable[[], int] = wall_clock_ms,
    require_bootstrap: bool = False,
    announce: Sequence[str | Multiaddr] = (),
    rendezvous: bool = True,
) -> AsyncIterator[Node]:
    """Start a node; `serve=False` makes a light client (DHT client mode, stores nothing).

    With `require_bootstrap`, reaching none of the bootstrap peers raises NodeError; otherwise
    the node keeps dialing them in the background while it has too few peers. `announce`
    replaces the addresses the node advertises (default: its listen addresses, a wildcard
    expanded to the interfaces behind it, and what its peers observe). A serving node also
    answers `/rendezvous/1.0.0` unless `rendezvous` is false (DESIGN §11).
    """
    config = config or RegistryConfig()
    config.check()
    route_libp2p_logging()
    listen = parse_multiaddrs(listen_addrs, "listen address")
    boot = parse_multiaddrs(bootstrap, "bootstrap address")
    announced = parse_multiaddrs(announce, "announce address")
    for addr in listen:
        try:
            claim_listen_ports([addr])
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise NodeError(f"cannot listen on {addr}: {reason}") from exc
    boot_infos = []
    for addr in boot:
        try:
            boot_infos.append(info_from_p2p_addr(addr))
        except Exception as exc:
            raise NodeError(f"bootstrap address {addr} needs a /p2p/<peer id> part") from exc
    if key_pair is None:
        key_pair = load_or_create_identity(data_dir) if data_dir is not None else create_new_key_pair()
    store: Store | None = None
    if serve:
        path: str | Path = ":memory:"
        if data_dir is not None:
            Path(data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
            path = Path(data_dir) / STORE_FILE
        store = Store(
            path, local_peer=_peer_bytes(key_pair), limits=config.limits, verifier=make_verifier(), weight=config.weight
        )

    host = new_host(
        key_pair=key_pair,
        sec_opt=noise_only(key_pair),
        muxer_preference="YAMUX",
        connection_config=fast_dial_config(config.limits.max_connections, config.connection_grace_s),
        listen_addrs=listen,
        addrs_factory=addrs_factory(announced),
    )
    cache_advertised_addrs(host)
    # Only the namespaces the registry needs (mount adds `reg`): py-libp2p's default `pk` and
    # `ipns` let anyone store 50,000 values per node, after which every further PUT blocked the
    # event loop ~0.57 s (its value store scans every entry on insert; attacks.md §3).
    dht = KadDHT(
        host,
        DHTMode.SERVER if serve else DHTMode.CLIENT,
        validator=NamespacedValidator({}, strict_validation=True),
        validator_changed=True,
        strict_validation=True,
    )
    pubsub, router = make_gossipsub(host, config.gossip_heartbeat_s)
    try:
        try:
            running_host = host.run(listen)
            await running_host.__aenter__()
        except Exception as exc:
            raise NodeError(f"cannot listen on {', '.join(map(str, listen))}: {exc}") from exc
        try:
            async with (
                background_trio_service(dht),
                background_trio_service(pubsub),
                background_trio_service(router),
                # Twice per grace period, as go-libp2p's connection manager does.
                trimming_idle_connections(host, config.connection_grace_s / 2),
            ):
                with trio.fail_after(JOIN_TIMEOUT_S):
                    await pubsub.wait_until_ready()
                # One code path: a node is a host with good defaults and the registry mounted on it.
                async with mount(
                    host,
                    dht,
                    pubsub,
                    store,
                    config,
                    serve=serve,
                    clock_ms=clock_ms,
                    bootstrap=boot_infos,
                    rendezvous=rendezvous and serve,
                ) as registry:
                    try:
                        await join(host, dht, boot_infos, require_bootstrap)
                    except BootstrapUnreachable as exc:
                        raise NodeError(str(exc)) from exc
                    yield Node(host, dht, pubsub, registry, store)
        finally:
            with trio.CancelScope(shield=True):
                stop_pubsub_thread(pubsub)
                await close_host(host)
            # Outside the shield: host.run's own scopes were entered outside it and must be
            # exited in the same order (trio checks the cancel-scope stack).
            try:
                await running_host.__aexit__(None, None, None)
            except Exception as exc:
                log.debug("host.run exit: %r", exc)
    finally:
        if store is not None:
            store.close()


def _peer_bytes(key_pair: KeyPair) -> bytes:
    from registry_p2p.core.signing import peer_id_bytes_of

    return peer_id_bytes_of(key_pair.private_key)
