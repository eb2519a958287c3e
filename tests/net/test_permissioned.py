"""Owner-approved resources on loopback: strangers refused on every write path, grantees accepted,
revocations reaching every replica and watcher, expiry and replays changing nothing."""

from __future__ import annotations

import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.peerinfo import PeerInfo

from registry_p2p.core import build
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.ids import b58, resource_id_from_text
from registry_p2p.net.notify import topic_of
from registry_p2p.node import Node
from registry_p2p.pb import registry_pb2 as pb

from .harness import cfg, network, wait_for

APPROVED = "owner-approved"


async def _put(sender: Node, peer, rid: bytes, raws: list[bytes]) -> list[str]:  # type: ignore[no-untyped-def]
    request = pb.PutEntriesRequest(resource_id=rid, entries=raws)
    reply = await sender.registry.client.request(peer, pb.Message(put_entries=request))
    return [pb.Status.Name(r.status) for r in reply.put_entries_response.results]


def _issuers(node: Node, rid: bytes) -> set[bytes]:
    assert node.store is not None
    return {r.issuer for r in node.store.live_records(rid, node.registry.clock_ms())}


def _me(node: Node) -> bytes:
    return node.registry.me


async def test_strangers_are_refused_on_every_write_path_and_grantees_accepted() -> None:
    with trio.fail_after(150):
        async with network(6, cfg(k=3, host_policy="open")) as net:
            owner = (await net.add(serve=False)).node
            granted = (await net.add(serve=False)).node
            stranger = (await net.add(serve=False)).node
            assert owner is not None and granted is not None and stranger is not None
            rid = await owner.registry.create_resource("fleet", policy=APPROVED)
            rid_bytes = resource_id_from_text(rid)
            assert (await owner.registry.get_resource(rid)).policy == APPROVED  # type: ignore[union-attr]
            assert (await owner.registry.grant(rid, b58(_me(granted)), ack=3)).ok
            # Only the owner grants.
            try:
                await stranger.registry.grant(rid, b58(_me(stranger)))
                raise AssertionError("a stranger granted itself")
            except RegistryError as err:
                assert err.status is Status.NOT_AUTHORIZED

            replicas = await owner.registry.routing.replica_set(rid_bytes, refresh=True)
            by_id = {n.host.get_id(): n for n in net.nodes}
            replica_nodes = [by_id[p] for p in replicas]
            outsider = next(n for n in net.nodes if n.host.get_id() not in replicas)

            # The library's write path: refused by every replica.
            out = await stranger.registry.register_service(rid, b"squat", "svc", ack=1)
            assert not out.ok and out.errors and all("NOT_AUTHORIZED" in e for e in out.errors.values()), out
            assert (await granted.registry.register_service(rid, b"fleet", "svc", ack=3)).ok
            assert (await owner.registry.register_service(rid, b"own", "own", ack=3)).ok

            # PutEntries, straight to each replica.
            now = stranger.registry.clock_ms()
            squat = build.make_record(stranger.registry.key, rid_bytes, "raw", b"x", now).encode()
            for peer in replicas:
                assert await _put(stranger, peer, rid_bytes, [squat]) == ["NOT_AUTHORIZED"]

            # HostSign: an honest host refuses to countersign for a stranger, not for a grantee.
            try:
                await stranger.registry.register_service(rid, b"hosted", "h", peer_id=str(outsider.host.get_id()))
                raise AssertionError("a host countersigned a stranger's record")
            except RegistryError as err:
                assert err.status is Status.NOT_AUTHORIZED and "owner-approved" in err.text, err
            hosted = await granted.registry.register_service(rid, b"hosted", "h", peer_id=str(outsider.host.get_id()))
            assert hosted.ok, hosted

            # Gossip: a stranger's record published to a watcher is rejected by its validator.
            watcher = next(n for n in net.nodes if n.host.get_id() not in replicas and n is not outsider)
            async with watcher.registry.watch(rid) as events:
                seen = set()
                with trio.fail_after(10):
                    while len(seen) < 3:
                        seen.add((await events.__anext__()).service_id)
                assert seen == {"svc", "own", "h"}
                notifier = watcher.registry.notifier
                assert notifier is not None
                spammer = next(n for n in net.nodes if n not in (watcher, outsider) and n not in replica_nodes)
                await spammer.host.connect(PeerInfo(watcher.host.get_id(), watcher.host.get_addrs()))
                with trio.fail_after(10):
                    await spammer.pubsub.wait_for_subscription(watcher.host.get_id(), topic_of(rid_bytes), timeout=10)
                rejected = notifier.rejected
                await spammer.pubsub.publish(topic_of(rid_bytes), squat)
                await wait_for(lambda: notifier.rejected > rejected)

            # Nothing of the stranger's is stored anywhere, nor resolved.
            for node in net.nodes:
                if node.store is not None:
                    assert _me(stranger) not in _issuers(node, rid_bytes)
            resolved = {r.issuer for r in await stranger.registry.resolve(rid, ack=3)}
            assert resolved == {b58(_me(granted)), b58(_me(owner))}
            grants = await stranger.registry.grants(rid)
            assert [(g.grantee, g.revoked) for g in grants] == [(b58(_me(granted)), False)]


async def test_switch_to_owner_approved_drops_squatters_and_replication_cannot_bring_them_back() -> None:
    """A squatter-filled open resource switched to owner-approved: replicas drop the squatters'
    records, and a stale replica's replication push and a reader's read repair are refused."""
    with trio.fail_after(150):
        async with network(5, cfg(k=3)) as net:
            owner = (await net.add(serve=False)).node
            squatter = (await net.add(serve=False)).node
            assert owner is not None and squatter is not None
            rid = await owner.registry.create_resource("squatted")
            rid_bytes = resource_id_from_text(rid)
            assert (await squatter.registry.register_service(rid, b"squat", "s", ack=3)).ok
            assert (await owner.registry.register_service(rid, b"own", "o", ack=3)).ok
            await squatter.registry.settle()
            replicas = await owner.registry.routing.replica_set(rid_bytes, refresh=True)
            by_id = {n.host.get_id(): n for n in net.nodes}
            stale, *fresh = [by_id[p] for p in replicas]
            # The new, owner-approved version reaches all but one replica.
            approved = build.make_resource(owner.registry.key, "squatted", owner.registry.clock_ms(), policy=APPROVED)
            for node in fresh:
                assert (await owner.registry.rpc.put_resource(node.host.get_id(), approved.to_pb())).stored
                assert _issuers(node, rid_bytes) == {_me(owner)}
            assert _me(squatter) in _issuers(stale, rid_bytes)
            # A reader merging the stale replica's answer: the squatter's record is not returned
            # (the newest copy of the resource decides) and not repaired onto the others.
            records = await owner.registry.resolve(rid, ack=3)
            assert {r.issuer for r in records} == {b58(_me(owner))}
            await owner.registry.settle()
            # The stale replica's replication push is refused; it learns the new version and drops them.
            await stale.registry.replicate_once()
            for node in (stale, *fresh):
                assert _issuers(node, rid_bytes) == {_me(owner)}, node.peer_id
                resource = node.store.get_resource(rid_bytes) if node.store else None
                assert resource is not None and resource.owner_approved
            # Replaying the older, open version changes nothing.
            old = build.make_resource(owner.registry.key, "squatted", approved.created_at_ms - 1)
            for node in (stale, *fresh):
                put = await squatter.registry.rpc.put_resource(node.host.get_id(), old.to_pb())
                assert put.status is Status.SUPERSEDED
            assert not (await squatter.registry.register_service(rid, b"squat", "s2", ack=1)).ok


async def test_revocation_removes_records_from_every_replica_in_one_round_and_from_watchers_at_once() -> None:
    with trio.fail_after(150):
        async with network(6, cfg(k=3)) as net:
            owner = (await net.add(serve=False)).node
            fleet = (await net.add(serve=False)).node
            other = (await net.add(serve=False)).node
            assert owner is not None and fleet is not None and other is not None
            rid = await owner.registry.create_resource("fleet", policy=APPROVED)
            rid_bytes = resource_id_from_text(rid)
            for member in (fleet, other):
                assert (await owner.registry.grant(rid, b58(_me(member)), ack=3)).ok
            assert (await fleet.registry.register_service(rid, b"a", "a", ack=3)).ok
            assert (await fleet.registry.register_service(rid, b"b", "b", ack=3)).ok
            assert (await other.registry.register_service(rid, b"c", "c", ack=3)).ok
            replicas = await owner.registry.routing.replica_set(rid_bytes, refresh=True)
            by_id = {n.host.get_id(): n for n in net.nodes}
            first, *rest = [by_id[p] for p in replicas]
            watcher = next(n for n in net.nodes if n.host.get_id() not in replicas)
            assert first.store is not None
            old_grant = first.store.grant_of(rid_bytes, _me(fleet), first.registry.clock_ms())
            assert old_grant is not None and not old_grant.revoked
            async with watcher.registry.watch(rid) as events:
                with trio.fail_after(10):
                    live = {(await events.__anext__()).service_id for _ in range(3)}
                assert live == {"a", "b", "c"}
                with trio.fail_after(10):
                    await first.pubsub.wait_for_subscription(watcher.host.get_id(), topic_of(rid_bytes), timeout=10)
                # The revocation reaches one replica only.
                revocation = build.make_grant(
                    owner.registry.key, rid_bytes, _me(fleet), owner.registry.clock_ms(), revoked=True
                )
                assert await _put(owner, first.host.get_id(), rid_bytes, [revocation.encode()]) == ["OK"]
                # "At once": the watcher is no replica, watches never poll and every maintenance loop is
                # off (cfg), so these events can only be the replica's push. How fast that is is measured,
                # not asserted on this noisy machine: `python -m registry_p2p.tools.bench` (watch_delay).
                with trio.fail_after(10):
                    gone = {(e.kind, e.service_id) for e in [await events.__anext__(), await events.__anext__()]}
                assert gone == {("unregistered", "a"), ("unregistered", "b")}
            assert _issuers(first, rid_bytes) == {_me(other)}
            assert all(_me(fleet) in _issuers(n, rid_bytes) for n in rest)
            # One replicate round of the replica that holds it: every replica drops them.
            await first.registry.replicate_once()
            for node in (first, *rest):
                assert _issuers(node, rid_bytes) == {_me(other)}, node.peer_id
            # Replays change nothing: the revoked grant, and the grantee's records.
            for node in (first, *rest):
                assert await _put(fleet, node.host.get_id(), rid_bytes, [old_grant.encode()]) == ["SUPERSEDED"]
            assert not (await fleet.registry.register_service(rid, b"a", "a", ack=1)).ok
            assert {r.service_id for r in await watcher.registry.resolve(rid, ack=3)} == {"c"}


async def test_an_expired_grant_stops_new_writes() -> None:
    with trio.fail_after(120):
        async with network(4, cfg(k=3)) as net:
            owner = (await net.add(serve=False)).node
            member = (await net.add(serve=False)).node
            assert owner is not None and member is not None
            rid = await owner.registry.create_resource("rented", policy=APPROVED)
            assert (await owner.registry.grant(rid, b58(_me(member)), expires_in_s=2.0, ack=3)).ok
            assert (await member.registry.register_service(rid, b"v", "in-time", ack=3)).ok
            deadline = owner.registry.clock_ms() + 2000
            await wait_for(lambda: owner.registry.clock_ms() > deadline, timeout=5)
            late = await member.registry.register_service(rid, b"v", "too-late", ack=1)
            assert not late.ok and all("NOT_AUTHORIZED" in e for e in late.errors.values()), late
            assert await member.registry.resolve(rid, ack=3) == []


async def test_a_flood_of_fresh_identities_against_an_owner_approved_resource_stores_none() -> None:
    with trio.fail_after(150):
        async with network(5, cfg(k=3)) as net:
            owner = (await net.add(serve=False)).node
            attacker = (await net.add(serve=False)).node
            assert owner is not None and attacker is not None
            rid = await owner.registry.create_resource("guarded", policy=APPROVED)
            rid_bytes = resource_id_from_text(rid)
            assert (await owner.registry.register_service(rid, b"honest", "honest", ack=3)).ok
            replicas = await attacker.registry.routing.replica_set(rid_bytes, refresh=True)
            now = attacker.registry.clock_ms()
            flood = [
                build.make_record(create_new_key_pair().private_key, rid_bytes, "squat", b"x", now + i).encode()
                for i in range(300)
            ]
            statuses: set[str] = set()
            for replica in replicas:
                for start in range(0, len(flood), 100):
                    statuses.update(await _put(attacker, replica, rid_bytes, flood[start : start + 100]))
            assert statuses == {"NOT_AUTHORIZED"}
            by_id = {n.host.get_id(): n for n in net.nodes}
            for peer in replicas:
                node = by_id[peer]
                assert node.store is not None and node.store.counts()["records"] == 1
            assert [r.service_id for r in await attacker.registry.resolve(rid, ack=3)] == ["honest"]

            # Bad grants: forged (signed by the attacker), for another resource, from the future;
            # and more grants in one request than a resource may hold. Refused; nothing stored.
            me = attacker.registry.me
            other = resource_id_from_text(await owner.registry.create_resource("other", policy=APPROVED))
            bad = [
                build.make_grant(attacker.registry.key, rid_bytes, me, now).encode(),
                build.make_grant(owner.registry.key, other, me, now).encode(),
                build.make_grant(owner.registry.key, rid_bytes, me, now + 3_600_000).encode(),
            ]
            flood_grants = [
                build.make_grant(owner.registry.key, rid_bytes, _me(n), now).encode() for n in net.nodes
            ] * 300  # 1500 > the 1024 a resource may hold
            for replica in replicas:
                assert await _put(attacker, replica, rid_bytes, bad) == [
                    "INVALID_SIGNATURE",
                    "INVALID_SIGNATURE",
                    "FROM_FUTURE",
                ]
                assert set(await _put(attacker, replica, rid_bytes, flood_grants)) == {"TOO_LARGE"}
                node = by_id[replica]
                assert node.store is not None and node.store.grants(rid_bytes, node.registry.clock_ms()) == []
            assert (await attacker.registry.register_service(rid, b"x", "x", ack=1)).ok is False


async def test_a_serving_grantee_outside_the_replica_set_keeps_its_own_record_to_renew_it() -> None:
    with trio.fail_after(120):
        async with network(5, cfg(k=3)) as net:
            owner = (await net.add(serve=False)).node
            assert owner is not None
            rid = await owner.registry.create_resource("renewed", policy=APPROVED)
            rid_bytes = resource_id_from_text(rid)
            replicas = await owner.registry.routing.replica_set(rid_bytes, refresh=True)
            member = next(n for n in net.nodes if n.host.get_id() not in replicas)
            assert (await owner.registry.grant(rid, b58(_me(member)), ack=3)).ok
            assert (await member.registry.register_service(rid, b"v", "svc", ack=3)).ok
            # Its own store holds the record (renewal works from it) and the grant that let it in.
            assert _issuers(member, rid_bytes) == {_me(member)}
            assert member.store is not None
            assert member.store.grant_of(rid_bytes, _me(member), member.registry.clock_ms()) is not None
