"""What every part of the registry shares: the host and its services, the store, the config and
clock, the typed RPC client, the replica-set routing, and the background tasks of writes and
read repairs. One object, built once by `Registry`, handed to each part."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from libp2p.crypto.keys import PrivateKey
from libp2p.peer.id import ID

from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.limits import Limits
from registry_p2p.core.signing import Verifier
from registry_p2p.net.addrs import host_addrs
from registry_p2p.net.client import RegistryClient
from registry_p2p.net.fanout import Gathered, gather
from registry_p2p.net.notify import Notifier
from registry_p2p.net.routing import Routing
from registry_p2p.net.rpc import RegistryRpc
from registry_p2p.net.server import RegistryServer
from registry_p2p.store import Store

if TYPE_CHECKING:
    from registry_p2p.adapter.types import DhtLike, HostLike, PubsubLike

log = logging.getLogger("registry_p2p.registry")

T = TypeVar("T")
# Replica sets tried per request: the first, then up to two recomputed without unreachable peers.
REPLICA_ROUNDS = 3


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class MaintenanceStats:
    replicate_rounds: int = 0
    pushed_entries: int = 0
    pushed_bytes: int = 0
    pulled_entries: int = 0
    renewed: int = 0
    dht_puts: int = 0
    renew_writes: int = 0  # batched writes the renewals took (one per resource and page)
    gc_records: int = 0
    gc_tombstones: int = 0
    gc_resources: int = 0


def own_addrs(host: HostLike) -> list[bytes]:
    """What records hosted here carry in `addrs`: addresses others can dial, never a wildcard."""
    return [a.to_bytes() for a in host_addrs(host)]


@dataclass
class Context:
    host: HostLike
    dht: DhtLike
    pubsub: PubsubLike
    config: RegistryConfig
    clock_ms: Callable[[], int]
    key: PrivateKey
    peer_id: ID
    me: bytes  # our peer id, binary
    verifier: Verifier
    store: Store | None  # None for a light client
    client: RegistryClient
    rpc: RegistryRpc
    routing: Routing
    notifier: Notifier | None
    server: RegistryServer | None
    maintenance: MaintenanceStats
    on_latency: Callable[[str, float], None] | None = None
    background: Background | None = None  # set once the registry runs

    @property
    def limits(self) -> Limits:
        return self.config.limits

    def own_addrs(self) -> list[bytes]:
        return own_addrs(self.host)

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        if self.background is not None:
            self.background.start_soon(fn, *args)

    async def gather(
        self, peers: list[ID], ask: Callable[[ID], Awaitable[T]], need: int, succeeded: Callable[[T], bool]
    ) -> Any:
        return await gather(
            peers,
            ask,
            need=need,
            timeout=self.config.request_timeout_s,
            succeeded=succeeded,
            on_unsupported=self.routing.mark_unsupported,
            on_unreachable=self.routing.mark_unreachable,
            window=need + 1,
        )

    async def gather_replicas(
        self,
        rid: bytes,
        ask: Callable[[ID], Awaitable[T]],
        *,
        need: int,
        succeeded: Callable[[T], bool],
        extra: list[ID] | None = None,
        timeout: float | None = None,
        background: Any = None,
        first: list[ID] | None = None,
    ) -> tuple[Gathered[T], list[ID]]:
        """Ask the replica set of `rid` (and `extra` peers) until `need` answers succeeded.

        A replica set can name peers that left: routing tables and the replica-set cache keep
        them. Each failed request marks its peer unreachable, so when a round falls short because
        peers were unreachable the set is computed again without them and the peers not yet asked
        are asked: after churn a resolve reaches the live replicas instead of failing. Returns
        what was gathered and every replica asked (to count acks among replicas only). `first` is
        the replica set when the caller already looked it up.

        With a `background` nursery (a write), a replica found unreachable after enough answers
        came (its request still running when the call returned, or failing beside successes) is
        replaced there: the set is computed again without it and the live replicas not yet asked
        get the write too. Otherwise a tombstone written while one cached replica was down
        reached only `need` replicas, and a live replica outside the stale set kept serving the
        record until anti-entropy.
        """
        total: Gathered[T] = Gathered()
        asked: set[ID] = set()
        replicas: list[ID] = []
        extra = extra or []
        deadline = math.inf
        returned = False

        def on_unreachable(peer: ID) -> None:
            self.routing.mark_unreachable(peer)
            if returned and background is not None:
                background.start_soon(self._replace_unreachable, rid, ask, asked, timeout)

        for round_ in range(REPLICA_ROUNDS):
            peers = first if round_ == 0 and first is not None else await self.routing.replica_set(rid)
            if deadline == math.inf:
                # The timeout bounds the requests; the first lookup has its own bound.
                deadline = trio.current_time() + (timeout or self.config.request_timeout_s)
            replicas += [p for p in peers if p not in replicas]
            targets = [p for p in dict.fromkeys([*extra, *peers]) if p not in asked]
            remaining = need - len(total.successes)
            if not targets or deadline <= trio.current_time():
                break
            asked.update(targets)
            got = await gather(
                targets,
                ask,
                need=remaining,
                timeout=deadline - trio.current_time(),
                succeeded=succeeded,
                on_unsupported=self.routing.mark_unsupported,
                on_unreachable=on_unreachable,
                background=background,
                # The closest replicas first, one spare; more only on failure.
                window=remaining + 1,
            )
            total.successes.update(got.successes)
            total.errors.update(got.errors)
            total.timed_out = got.timed_out
            unreachable = [p for p in got.errors if self.routing.recently_unreachable(p)]
            if len(total.successes) >= need or got.timed_out or not unreachable:
                break
        returned = True
        if background is not None and any(self.routing.recently_unreachable(p) for p in total.errors):
            background.start_soon(self._replace_unreachable, rid, ask, asked, timeout)
        return total, replicas

    async def _replace_unreachable(
        self, rid: bytes, ask: Callable[[ID], Awaitable[Any]], asked: set[ID], timeout: float | None
    ) -> None:
        """A write's background step: the live replicas that the set held without (see above)."""
        peers = await self.routing.replica_set(rid)
        targets = [p for p in peers if p not in asked]
        if not targets:
            return
        asked.update(targets)
        log.debug("a replica of %s was unreachable; writing to %d more", rid.hex()[:12], len(targets))
        await gather(
            targets,
            ask,
            need=len(targets),
            timeout=timeout or self.config.request_timeout_s,
            on_unsupported=self.routing.mark_unsupported,
            on_unreachable=self.routing.mark_unreachable,
        )


class Background:
    """Starts tasks in the registry's nursery and counts them, so `settle` can wait for them."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._running = 0
        self._done = trio.Event()
        self._done.set()

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        if self._running == 0:
            self._done = trio.Event()
        self._running += 1
        self._nursery.start_soon(self._run, fn, args)

    async def _run(self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        try:
            await fn(*args)
        finally:
            self._running -= 1
            if self._running == 0:
                self._done.set()

    async def idle(self) -> None:
        while self._running:
            await self._done.wait()


def errors_text(errors: dict[Any, str]) -> str:
    if not errors:
        return "no replica answered"
    return "; ".join(f"{peer}: {reason}" for peer, reason in list(errors.items())[:5])
