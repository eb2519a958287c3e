"""Every py-libp2p 0.8.1 workaround, in one place (DESIGN §8). Each has a test in tests/net.

Nothing above net/ and node.py needs to know about these.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import trio
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as x25519_pair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig, RetryConfig
from libp2p.network.exceptions import SwarmDialAllFailedError
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport

log = logging.getLogger("registry_p2p.compat")


def fast_dial_config() -> ConnectionConfig:
    """With the default 3 connections per peer every dial waits a fixed 250 ms; with 1, ~10 ms.

    The auto-connector is also turned off (its default dials every known peer, up to 50
    connections, every 30 s): lookups, replica sets and watchers make the connections that matter.
    """
    return ConnectionConfig(max_connections_per_peer=1, min_connections=0, low_watermark=0)


NEGATIVE_DIAL_CACHE_S = 5.0


def quick_dial_retries(host: Any) -> Callable[[], None]:
    """py-libp2p retries a failed dial 3 times with backoff: a departed peer (connection refused
    at once) cost 2.9 s on loopback, and every lookup and replica-set request after churn paid it.
    One quick retry covers a transient failure; the callers (lookups, fan-outs) already move on to
    other peers. new_host() takes no retry configuration, so it is set on the swarm.

    The swarm also refuses to dial a peer for 60 s after all its addresses failed once: a node
    that restarts within seconds was shut out by every peer that had tried it meanwhile, and
    never received the writes replicated during that minute. A dial that fails now fails in
    milliseconds, so a short negative cache (5 s) protects as well without shutting anyone out.

    Returns the call that puts the swarm's own settings back.
    """
    swarm = host.get_network()
    old_retry = swarm.retry_config
    swarm.retry_config = RetryConfig(max_retries=1, initial_delay=0.05, max_delay=0.2)
    negative = getattr(swarm, "_negative_peer_cache", None)
    old_ttl = getattr(negative, "_ttl", None)
    if negative is not None and old_ttl is not None:
        negative._ttl = NEGATIVE_DIAL_CACHE_S

    def undo() -> None:
        swarm.retry_config = old_retry
        if negative is not None and old_ttl is not None:
            negative._ttl = old_ttl

    return undo


def one_connection_per_peer(host: Any) -> Callable[[], None]:
    """With py-libp2p's default of 3 connections per peer, every dial of a peer with one address
    waits a fixed 250 ms for a second address that never comes (its happy-eyeballs timer); with
    1 it returns as soon as the connection is up (~10 ms on loopback). Replica-set lookups dial
    several peers in turn, so this decides their speed. Returns the undo.
    """
    swarm = host.get_network()
    old = swarm.connection_config
    if isinstance(old, ConnectionConfig) and old.max_connections_per_peer != 1:
        swarm.connection_config = dataclasses.replace(old, max_connections_per_peer=1)

    def undo() -> None:
        swarm.connection_config = old

    return undo


def cache_advertised_addrs(host: Any, ttl_s: float = 1.0) -> Callable[[], None]:
    """py-libp2p 0.8.1 rebuilds the host's advertised addresses (parsing multiaddrs: ~0.4 ms) to
    attach its signed peer record to *every* pubsub RPC it sends, one per peer and message.
    Answer `host.get_addrs()` from a copy at most `ttl_s` old instead, on this host object only.
    Returns the undo."""
    original = host.get_addrs
    cached: list[Any] = [0.0, None]

    def get_addrs() -> list[Any]:
        now = time.monotonic()
        if cached[1] is None or now - cached[0] >= ttl_s:
            cached[0], cached[1] = now, original()
        return list(cached[1])

    host.get_addrs = get_addrs

    def undo() -> None:
        vars(host).pop("get_addrs", None)

    return undo


def claim_listen_ports(addrs: list[Any]) -> None:
    """Refuse a TCP port that another socket holds, before py-libp2p listens on it.

    py-libp2p 0.8.1 listens with SO_REUSEPORT (for hole punching): a second node on a port in
    use started anyway, printed "listening on ...", and the kernel split incoming connections
    between the two processes. Each fixed port is bound once here without SO_REUSEPORT (with
    SO_REUSEADDR, so a restart on the same port is not blocked by connections in TIME_WAIT); a
    port held by any listener fails with OSError (EADDRINUSE). Port 0 is the kernel's choice.
    """
    for addr in addrs:
        values = {proto.name: value for proto, value in addr.items()}
        port = int(values.get("tcp") or 0)
        if not port:
            continue
        if "ip6" in values:
            family, ip = socket.AF_INET6, str(values["ip6"])
        elif "ip4" in values:
            family, ip = socket.AF_INET, str(values["ip4"])
        else:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((ip, port))


def noise_only(key_pair: KeyPair) -> dict[TProtocol, Any]:
    """py-libp2p offers plaintext and secio by default; the registry speaks Noise only."""
    return {TProtocol(NOISE_PROTOCOL_ID): NoiseTransport(key_pair, noise_privkey=x25519_pair().private_key)}


def message_id(message: Any) -> bytes:
    """sha256(data) in every language, so a writer's and a replica's copies are one message."""
    return hashlib.sha256(bytes(message.data)).digest()


class _GossipSub(GossipSub):  # type: ignore[misc]  # py-libp2p ships no type information
    """GossipSub whose pending-message queues cost O(1) per publish instead of O(queue length).

    py-libp2p 0.8.1 queues each published message for every connected peer not (yet) known to
    be subscribed to the topic, and before each append rescans that peer's whole queue for
    expired entries. The queue is in time order: only a queue whose oldest entry has expired needs
    the scan, and an over-long one is cut to half the cap at once, so the cut is rare too.
    """

    def _prune_pending_messages(self, peer_id: Any) -> None:
        queue = self._pending_messages.get(peer_id)
        if queue and queue[0][0] >= time.time() - self._pending_messages_ttl:
            cap = self._max_pending_messages_per_peer
            if len(queue) > cap:
                del queue[: len(queue) - cap // 2]
            return
        super()._prune_pending_messages(peer_id)


def make_gossipsub(host: Any, heartbeat_s: float = 1.0) -> tuple[Pubsub, GossipSub]:
    """GossipSub whose default spam protection (10 msgs/s per peer and topic, silently dropped)
    would lose 50 services registering at once; the default 120 s heartbeat forms meshes too slowly."""
    router = _GossipSub(
        [PROTOCOL_ID_V12, PROTOCOL_ID_V11, PROTOCOL_ID],
        degree=6,
        degree_low=4,
        degree_high=12,
        heartbeat_interval=heartbeat_s,  # type: ignore[arg-type]
        heartbeat_initial_delay=0.1,
        spam_protection_enabled=False,
        max_messages_per_topic_per_second=10_000.0,
        # py-libp2p 0.8.1's "adaptive gossip" rescores network health every 30 s and then sets the
        # heartbeat to max(30, ...) or max(60, ...) seconds when a topic mesh is below its target
        # degree (a small network, a new resource): meshes, gossip and the message cache then
        # stall for 30-60 s; a node publishing 2,000 records/s held 60,000 of them in memory.
        adaptive_gossip_enabled=False,
        # Not an outbound buffer: py-libp2p 0.8.1 queues every published message for each
        # connected peer not (yet) known to be subscribed to its topic, and prunes that queue
        # with a scan on every publish: publishing cost O(peers x this cap). At 1000 a node
        # accepting 2,000 records/s spent 80% of its time there; the queue only bridges the
        # moment between connecting and learning a peer's subscriptions.
        max_pending_messages_per_peer=32,
    )
    pubsub = Pubsub(host, router, msg_id_constructor=message_id)
    return pubsub, router


def stop_pubsub_thread(pubsub: Pubsub) -> None:
    """Each Pubsub starts a sweeper thread for its seen-message cache that nothing stops."""
    try:
        pubsub.seen_messages.stop()
    except Exception as exc:
        log.debug("stopping the pubsub sweeper failed: %s", exc)


async def close_host(host: Any) -> None:
    """Close the listener and every connection, even when leaving under cancellation.

    Leaving host.run() under cancellation leaves the listener open (it still accepts). It also
    leaves the sockets open: each connection's task, cancelled first, marks its SwarmConn closed
    before the muxer is closed, so swarm.close() then skips it. The peers never see the
    connection end and keep a half-dead one (new streams on it hang) until garbage collection
    closes the socket. Each muxer is closed here directly, so peers see EOF at once.

    The listeners are closed first: swarm.close() closes the connections one by one (each Yamux
    close ends with a 0.1 s sleep) and only then its listeners, so a node with many connections,
    or one whose close hung, left the 5 s below with its port still listening, and a node
    restarting on that port was refused.
    """
    with trio.CancelScope(shield=True), trio.move_on_after(5):
        swarm = host.get_network()
        for listener in list(getattr(swarm, "listeners", {}).values()):
            try:
                await listener.close()  # idempotent: swarm.close() calls it again
            except Exception as exc:
                log.debug("closing a listener failed: %s", exc)
        connections = [conn for conns in list(swarm.connections.values()) for conn in conns]
        # Concurrently: Yamux.close() ends with a 0.1 s sleep.
        async with trio.open_nursery() as nursery:
            for conn in connections:
                muxed = getattr(conn, "muxed_conn", None)
                if muxed is not None and not muxed.is_closed:
                    nursery.start_soon(_close_muxed, muxed)
        try:
            await host.close()
        except Exception as exc:
            log.debug("host.close failed: %s", exc)


async def _close_muxed(muxed: Any) -> None:
    try:
        await muxed.close()
    except Exception as exc:
        log.debug("closing a connection failed: %s", exc)


def route_libp2p_logging(level: int = logging.WARNING) -> None:
    """py-libp2p sets its logger to propagate=False with no handler: send it to ours instead.

    Its DHT logs a WARNING on every clean stream EOF, so `libp2p.kad_dht` is held at ERROR.
    """
    lib = logging.getLogger("libp2p")
    lib.propagate = True
    lib.setLevel(level)
    for noisy in ("libp2p.kad_dht", "libp2p.pubsub", "libp2p.network"):
        logging.getLogger(noisy).setLevel(max(level, logging.ERROR))
    # Sets itself to INFO on import and reports every round of dialing.
    logging.getLogger("libp2p.network.auto_connector").setLevel(max(level, logging.WARNING))
    # Servers query light clients (DHT client mode) during lookups and log each refusal as an
    # ERROR with a multi-line dump: a known py-libp2p quirk, harmless, and not ours to report.
    logging.getLogger("libp2p.host.basic_host").setLevel(logging.CRITICAL)


class RoutingTableFiller:
    """Connecting does not add a peer to py-libp2p's routing table: do it once identify is known.

    A network notifee; `run` must be started in a nursery that outlives the host's connections.
    """

    IDENTIFY_WAIT_S = 5.0

    def __init__(self, host: Any, dht: Any, on_connected: Callable[[Any], None] | None = None) -> None:
        self.host = host
        self.dht = dht
        # Told of every new connection (a restarted peer, a healed partition), unlike a
        # half-dead old one, which lingers in the swarm and proves nothing.
        self.on_connected = on_connected
        self._send, self._receive = trio.open_memory_channel[Any](1024)

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            async for peer in self._receive:
                nursery.start_soon(self._add, peer)

    async def _add(self, peer: Any) -> None:
        from libp2p.kad_dht.common import PROTOCOL_ID as KAD_PROTOCOL

        with trio.move_on_after(self.IDENTIFY_WAIT_S):
            while True:
                try:
                    protocols = self.host.get_peerstore().get_protocols(peer)
                except Exception:
                    protocols = []
                if protocols:
                    break
                await trio.sleep(0.05)
        try:
            protocols = self.host.get_peerstore().get_protocols(peer)
        except Exception:
            return
        if str(KAD_PROTOCOL) in protocols:
            try:
                await self.dht.add_peer(peer)
            except Exception as exc:
                log.debug("add_peer failed: %s", exc)

    def learn_connected(self) -> None:
        """The peers connected before this filler was registered (an application's bootstrap peer)."""
        for peer in self.host.get_connected_peers():
            with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
                self._send.send_nowait(peer)

    # INotifee
    async def connected(self, network: Any, conn: Any) -> None:
        with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError, AttributeError):
            peer = conn.muxed_conn.peer_id
            self._send.send_nowait(peer)
            if self.on_connected is not None:
                self.on_connected(peer)

    async def disconnected(self, network: Any, conn: Any) -> None:
        return None

    async def opened_stream(self, network: Any, stream: Any) -> None:
        return None

    async def closed_stream(self, network: Any, stream: Any) -> None:
        return None

    async def listen(self, network: Any, multiaddr: Any) -> None:
        return None

    async def listen_close(self, network: Any, multiaddr: Any) -> None:
        return None


def local_dht_value(dht: Any, key: str) -> bytes | None:
    """The DHT value this node holds for `key` (put here by the DHT), without a network lookup."""
    try:
        record = dht.value_store.get(key.encode("utf-8"))
    except Exception as exc:
        log.debug("local DHT value of %s unavailable: %s", key, exc)
        return None
    return bytes(record.value) if record is not None and record.value else None


async def fresh_get_value(dht: Any, key: str) -> bytes | None:
    """get_value answers from any local copy (and caches fetched values for 24 h): drop it first."""
    with contextlib.suppress(Exception):
        dht.value_store.remove(key.encode("utf-8"))
    value: bytes | None = await dht.get_value(key)
    return value


STREAM_ON_EXISTING_CONNECTION_TIMEOUT_S = 2.0


async def open_stream(host: Any, peer: Any, protocols: list[TProtocol], timeout: float) -> Any:
    """host.new_stream within `timeout`, robust to half-dead and to losing connections.

    When a peer goes away, py-libp2p 0.8.1 may keep its connection in the swarm although the
    socket is closed: new streams on it then hang forever. A stream that does not open within
    2 s on an existing connection means exactly that: drop the connection and dial afresh (which
    fails at once if the peer is really gone). A new connection gets the whole `timeout`.

    When two connections to one peer race (a peer reconnecting under the same id right after it
    left, or both sides dialing at once), max_connections_per_peer=1 closes one of them, maybe
    the one a stream was being opened on: such a failure is tried once more.
    """
    deadline = trio.current_time() + timeout
    try:
        return await _open_stream_once(host, peer, protocols, deadline, timeout)
    except (SwarmDialAllFailedError, trio.TooSlowError):
        raise  # no connection at all, or no time left
    except Exception as exc:
        log.debug("stream to %s failed (%s); once more", peer, exc)
    return await _open_stream_once(host, peer, protocols, deadline, timeout)


async def _open_stream_once(host: Any, peer: Any, protocols: list[TProtocol], deadline: float, timeout: float) -> Any:
    if peer in host.get_connected_peers():
        with trio.move_on_after(min(STREAM_ON_EXISTING_CONNECTION_TIMEOUT_S, deadline - trio.current_time())):
            return await host.new_stream(peer, protocols)
        log.debug("connection to %s is half dead; redialing", peer)
        with trio.move_on_at(deadline):
            try:
                await host.get_network().close_peer(peer)
            except Exception as exc:
                log.debug("close_peer failed: %s", exc)
    with trio.move_on_at(deadline):
        return await host.new_stream(peer, protocols)
    raise trio.TooSlowError(f"no stream to {peer} within {timeout} s")


async def announce_protocols(host: Any, timeout: float = 5.0) -> None:
    """Tell connected peers what this host speaks now (identify push).

    py-libp2p runs identify once, when a connection opens, and pushes nothing when a protocol
    handler is added later. An application that connects to its bootstrap peer and then mounts
    the registry was therefore known to that peer as a peer without /registry/1.0.0, and left
    out of every replica set it computed.
    """
    from libp2p.identity.identify_push.identify_push import push_identify_to_peers

    with trio.move_on_after(timeout):
        try:
            await push_identify_to_peers(host)
        except Exception as exc:
            log.debug("identify push failed: %s", exc)


def request_identify(host: Any, peer: Any) -> None:
    """Run identify again on a connected peer whose protocols we still do not know.

    py-libp2p schedules identify once per peer when it connects; when two connections race (one
    is closed under max_connections_per_peer=1) that identify dies with the losing connection and
    the peer stays unidentified for good. BasicHost's scheduler is private; this is its one use.
    """
    schedule = getattr(host, "_schedule_identify", None)
    if schedule is not None:
        try:
            schedule(peer, reason="registry-routing")
        except Exception as exc:
            log.debug("could not schedule identify for %s: %s", peer, exc)
