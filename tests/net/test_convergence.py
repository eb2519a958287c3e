"""20 nodes in one process, replica sets of 5: convergence, tombstone replication, churn, joins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.node import Node

from .harness import Network, cfg, distance, key_closer_than, network

ISSUERS = 10
PER_ISSUER = 5


async def register_all(net: Network, rid: str) -> list[Node]:
    """Ten of the twenty nodes each register five records, all at once."""
    issuers = [n for n in net.nodes[-ISSUERS:]]

    async def issue(node: Node) -> None:
        for j in range(PER_ISSUER):
            out = await node.registry.register_service(rid, f"value-{j}".encode(), f"svc-{j}", ack=3)
            assert out.ok, out

    async with trio.open_nursery() as nursery:
        for node in issuers:
            nursery.start_soon(issue, node)
    return issuers


def where_missing_records_are(net: Network, rid: bytes, resolver: Node, issuers: list[Node], got: list[Any]) -> str:
    """What a resolve that missed records needs to be explained (it happened once in CI, in
    stop 22's r2, and not in isolation): whose records are missing, which nodes store them, and
    the replica sets the resolver and each such issuer use, against the true closest five.
    Nodes are named by their slot index."""
    index = {s.node.peer_id: s.index for s in net.slots if s.node is not None}
    by_bytes = {s.node.host.get_id().to_bytes(): s.index for s in net.slots if s.node is not None}

    def named(peers: list[Any] | None) -> list[int] | None:
        return None if peers is None else [by_bytes.get(p.to_bytes(), -1) for p in peers]

    now = resolver.registry.clock_ms()
    found = {r.issuer for r in got}
    closest = [by_bytes[b] for b in sorted(by_bytes, key=lambda b: distance(rid, b))]
    peer_at = {s.index: s.node.host.get_id() for s in net.slots if s.node is not None}

    def marked(node: Node) -> list[int]:
        """Which of the closest six `node` holds as recently unreachable (left out of its sets)."""
        return [i for i in closest[:6] if node.registry.routing.recently_unreachable(peer_at[i])]

    lines = [
        f"resolver {index[resolver.peer_id]} got {len(got)} records; the closest six: {closest[:6]}",
        f"resolver's cached set: {named(resolver.registry.routing.cached(rid))}, "
        f"marked unreachable: {marked(resolver)}",
    ]
    for issuer in issuers:
        if issuer.peer_id in found:
            continue
        holders = [
            s.index
            for s in net.slots
            if s.node is not None
            and s.node.store is not None
            and any(r.issuer == peer_id_bytes_of_text(issuer.peer_id) for r in s.node.store.live_records(rid, now))
        ]
        lines.append(
            f"issuer {index[issuer.peer_id]} missing: stored by {holders}; "
            f"its cached set {named(issuer.registry.routing.cached(rid))}, marked unreachable: {marked(issuer)}"
        )
    return "\n".join(lines)


async def replicate_everywhere(nodes: list[Node]) -> None:
    async with trio.open_nursery() as nursery:
        for node in nodes:
            nursery.start_soon(node.registry.replicate_once)


def holds_live(node: Node, rid: bytes, issuer: str, service_id: str, now: int) -> bool:
    assert node.store is not None
    return any(
        r.service_id == service_id and r.issuer == peer_id_bytes_of_text(issuer)
        for r in node.store.live_records(rid, now)
    )


def peer_id_bytes_of_text(peer: str) -> bytes:
    from registry_p2p.core.ids import peer_id_from_text

    return peer_id_from_text(peer)


async def test_convergence_and_tombstone_reaching_an_offline_replica(tmp_path: Path) -> None:
    with trio.fail_after(240):
        async with network(20, cfg(k=5), tmp=tmp_path, persistent=True) as net:
            owner = net.nodes[0]
            rid = await owner.registry.create_resource("convergence")
            rid_bytes = resource_id_from_text(rid)
            issuers = await register_all(net, rid)
            servers = [s for s in net.slots if s.node is not None and s.node.store is not None]
            for slot in servers:
                assert slot.node is not None
                records = await slot.node.registry.resolve(rid, ack=3)
                if len(records) != ISSUERS * PER_ISSUER:
                    raise AssertionError(where_missing_records_are(net, rid_bytes, slot.node, issuers, records))

            # Take one replica offline, unregister while it is away, bring it back on its data dir.
            replica_ids = {p.to_bytes() for p in await owner.registry.routing.replica_set(rid_bytes, refresh=True)}
            away = next(
                s for s in servers[1:] if s.node is not None and peer_id_bytes_of(s.key_pair.private_key) in replica_ids
            )
            writer = next(node for node in issuers if node is not away.node)
            await net.stop(away)
            out = await writer.registry.unregister_service(rid, "svc-0", ack=2)
            assert out.ok, out
            # The write goes on to the rest of the replica set in the background: let its attempt
            # at the stopped replica end first, or it may reach the replica once it is back.
            await writer.registry.settle()
            await net.start(away)
            assert away.node is not None and away.node.store is not None
            now = owner.registry.clock_ms()
            assert holds_live(away.node, rid_bytes, writer.peer_id, "svc-0", now), "it missed the unregister"

            await replicate_everywhere([s.node for s in servers if s.node is not None])
            now = owner.registry.clock_ms()
            assert not holds_live(away.node, rid_bytes, writer.peer_id, "svc-0", now), "tombstone not replicated"
            for slot in servers:
                assert slot.node is not None
                records = await slot.node.registry.resolve(rid, ack=3)
                assert len(records) == ISSUERS * PER_ISSUER - 1
                assert not any(r.issuer == writer.peer_id and r.service_id == "svc-0" for r in records)


async def test_churn_then_a_closer_node_joins() -> None:
    with trio.fail_after(240):
        async with network(20, cfg(k=5)) as net:
            owner = net.nodes[0]
            rid = await owner.registry.create_resource("churn")
            rid_bytes = resource_id_from_text(rid)
            await register_all(net, rid)
            servers = [s for s in net.slots if s.node is not None and s.node.store is not None]

            replica_ids = {p.to_bytes() for p in await owner.registry.routing.replica_set(rid_bytes, refresh=True)}
            victims = [s for s in servers[1:] if peer_id_bytes_of(s.key_pair.private_key) in replica_ids][:4]
            victims += [s for s in servers[1:] if s not in victims][: 7 - len(victims)]
            assert len(victims) == 7
            async with trio.open_nursery() as nursery:
                for slot in victims:
                    nursery.start_soon(net.stop, slot)
            survivors = [s.node for s in servers if s.node is not None]
            assert len(survivors) == 13

            await replicate_everywhere(survivors)  # one round
            for node in survivors:
                # Merged from three replicas: a new replica may still be receiving its copy.
                records = await node.registry.resolve(rid, ack=3)
                assert len(records) == ISSUERS * PER_ISSUER, node.peer_id

            # The next round moves the entries to the live peers now closest to the resource.
            await replicate_everywhere(survivors)
            live = {node.host.get_id(): node for node in survivors}
            replicas = await owner.registry.routing.replica_set(rid_bytes, refresh=True)
            assert set(replicas) <= set(live), "a stopped node is still in the replica set"
            for peer in replicas:
                store = live[peer].store
                assert store is not None
                assert len(store.live_records(rid_bytes, owner.registry.clock_ms())) == ISSUERS * PER_ISSUER

            # A node closer to the resource than every current replica receives its entries.
            current = await owner.registry.routing.replica_set(rid_bytes, refresh=True)
            bound = min(distance(rid_bytes, p.to_bytes()) for p in current)
            newcomer_slot = await net.add(key_closer_than(rid_bytes, bound))
            newcomer = newcomer_slot.node
            assert newcomer is not None and newcomer.store is not None
            await replicate_everywhere(survivors)
            assert len(newcomer.store.live_records(rid_bytes, owner.registry.clock_ms())) == ISSUERS * PER_ISSUER
            assert newcomer.store.get_resource(rid_bytes) is not None
