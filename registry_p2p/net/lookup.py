"""An iterative Kademlia FIND_NODE lookup that survives churn.

py-libp2p 0.8.1's `find_closest_peers_network` is unusable right after peers leave:
- it opens each query stream with `host.new_stream`, which hangs on the half-dead connection a
  departed peer leaves in the swarm (see `adapter.streams.open_stream`), so each round waits for its
  10 s QUERY_TIMEOUT;
- it runs in lock-step rounds (the slowest of a round holds the next one back);
- it puts every queried peer back into the routing table "regardless of query outcome", so a
  departed peer keeps being returned, and it has no notion of peers we already know are gone.

On a 20-node loopback network with 7 nodes stopped that made each replica-set lookup take its
whole 10 s budget. This lookup speaks the same wire (`/ipfs/kad/1.0.0`, FIND_NODE, the signed
peer records py-libp2p attaches) with a sliding window of `alpha` queries, a short per-query
timeout, and a `skip` predicate for peers known to be unreachable; a peer that fails is
reported through `on_failed` and left out of the answer. The peer states and the rules live in
`core/lookup.py` (sans-IO); this module is the I/O that drives them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio
from libp2p.custom_types import TProtocol
from libp2p.kad_dht.common import MAX_DHT_MESSAGE_SIZE
from libp2p.kad_dht.common import PROTOCOL_ID as KAD_PROTOCOL_ID
from libp2p.kad_dht.pb.kademlia_pb2 import Message
from libp2p.kad_dht.utils import maybe_consume_signed_record
from libp2p.peer.id import ID
from libp2p.peer.peerstore import env_to_send_in_RPC
from libp2p.utils.varint import read_varint_prefixed_bytes_limited
from multiaddr import Multiaddr

from registry_p2p.adapter.streams import has_live_connection, open_stream
from registry_p2p.core.ids import uvarint
from registry_p2p.core.lookup import ALPHA, QUERY_TIMEOUT_S, LookupState

if TYPE_CHECKING:
    from registry_p2p.adapter.types import HostLike

log = logging.getLogger("registry_p2p.lookup")

ADDR_TTL_S = 3600


class QueryFailed(Exception):
    """A FIND_NODE query got no usable answer; `unreachable` when no stream could be opened."""

    def __init__(self, reason: str, unreachable: bool, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.unreachable = unreachable
        self.timed_out = timed_out


async def find_node(host: HostLike, peer: ID, target: bytes, timeout: float = QUERY_TIMEOUT_S) -> list[ID]:
    """Ask `peer` for the peers it knows closest to `target`; their addresses go to the peerstore."""
    with trio.move_on_after(timeout):
        try:
            stream = await open_stream(host, peer, [TProtocol(str(KAD_PROTOCOL_ID))], timeout)
        except Exception as exc:
            # On a live connection the peer refused the stream (over a stream budget, or busy):
            # it is there, and must not be left out of replica sets as gone.
            live = has_live_connection(host, peer)
            raise QueryFailed(f"cannot open a kad stream: {exc}", unreachable=not live) from exc
        try:
            request = Message(type=Message.MessageType.FIND_NODE, key=target)
            request.senderRecord = env_to_send_in_RPC(host)[0]
            body = request.SerializeToString()
            await stream.write(uvarint(len(body)) + body)
            reply = Message()
            reply.ParseFromString(await read_varint_prefixed_bytes_limited(stream, MAX_DHT_MESSAGE_SIZE))
        except Exception as exc:
            raise QueryFailed(f"FIND_NODE failed: {exc}", unreachable=False) from exc
        finally:
            with trio.move_on_after(0.5) as cleanup:
                cleanup.shield = True
                with contextlib.suppress(Exception):
                    await stream.close()
        return _closer_peers(host, reply)
    raise QueryFailed("FIND_NODE timed out", unreachable=False, timed_out=True)


def _closer_peers(host: HostLike, reply: Any) -> list[ID]:
    me = host.get_id()
    peers: list[ID] = []
    for entry in reply.closerPeers:
        if not entry.id or not maybe_consume_signed_record(entry, host):
            continue
        try:
            peer = ID(entry.id)
        except Exception:
            continue
        if peer == me or peer in peers:
            continue
        addrs = []
        for raw in entry.addrs:
            try:
                addrs.append(Multiaddr(raw))
            except Exception:
                continue
        if addrs:
            host.get_peerstore().add_addrs(peer, addrs, ADDR_TTL_S)
        peers.append(peer)
    return peers


async def lookup(
    host: HostLike,
    seeds: list[ID],
    target: bytes,
    count: int,
    *,
    skip: Callable[[ID], bool] = lambda _: False,
    on_failed: Callable[[ID, QueryFailed], None] = lambda _p, _e: None,
    alpha: int = ALPHA,
    query_timeout: float = QUERY_TIMEOUT_S,
) -> LookupState[ID]:
    """The `count` peers closest to `target` that answered us (the returned state's `result()`),
    found from `seeds` by iterative FIND_NODE queries; `core.lookup.LookupState` decides whom to
    ask and when it is over, and the finished state also says what it took (`hops_to_closest`,
    `queries_sent`), which the simulator's validation compares.

    The caller bounds the whole lookup with its own timeout.
    """
    me = host.get_id()
    state = LookupState(
        target, count, seeds, key_of=ID.to_bytes, alpha=alpha, skip=lambda peer: peer == me or skip(peer)
    )
    done = trio.Event()

    async with trio.open_nursery() as nursery:

        async def query(peer: ID) -> None:
            try:
                closer = await find_node(host, peer, target, query_timeout)
            except QueryFailed as exc:
                log.debug("lookup: %s failed: %s", peer, exc)
                state.on_failure(peer, trio.current_time(), unreachable=exc.unreachable, timed_out=exc.timed_out)
                on_failed(peer, exc)
            else:
                state.on_reply(peer, closer, trio.current_time())
            schedule()

        def schedule() -> None:
            for peer in state.next_queries(trio.current_time()):
                nursery.start_soon(query, peer)
            if state.done:
                done.set()

        schedule()
        await done.wait()
    return state
