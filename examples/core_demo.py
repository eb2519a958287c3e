"""Offline demo of the registry's data model: sign, validate, store, merge, collect.

Runs without a network: a resource, two services, a remote-hosted record, a tombstone, and the
precedence rule deciding what a resolver sees.
"""

from __future__ import annotations

import time

from libp2p.crypto.ed25519 import create_new_key_pair

from registry_p2p.adapter.keys import make_verifier
from registry_p2p.core import DEFAULT_LIMITS, RegistryError, b58, build
from registry_p2p.core.precedence import live_records, merge
from registry_p2p.core.validate import validate_entry, validate_resource
from registry_p2p.core.views import Record
from registry_p2p.net.addrs import addr_text


def main() -> None:
    alice, bob = create_new_key_pair(), create_new_key_pair()
    now = int(time.time() * 1000)
    verifier = make_verifier()
    resource = build.make_resource(alice.private_key, "echo-service", now)
    validate_resource(resource, now, DEFAULT_LIMITS, verifier)
    print(f"resource {b58(resource.id)}  label={resource.label!r}  owner={b58(resource.owner)}")

    echo = build.make_record(alice.private_key, resource.id, "echo", b"v1", now)
    ping = build.make_record(bob.private_key, resource.id, "ping", b"pong", now)
    part = build.make_issuer_part(bob.private_key, resource.id, echo.host, "relay", b"on alice", now)
    remote = build.countersign(alice.private_key, part.to_request(), now, [])
    for entry in (echo, ping, remote):
        validate_entry(entry, now, DEFAULT_LIMITS, verifier, resource.id)

    forged = build.make_record(bob.private_key, resource.id, "forged", b"x", now).to_pb()
    forged.host_signature = echo.host_signature
    try:
        from registry_p2p.core.model import entry_from_pb
        from registry_p2p.pb import registry_pb2 as pb

        validate_entry(entry_from_pb(pb.Entry(record=forged), DEFAULT_LIMITS), now, DEFAULT_LIMITS, verifier)
    except RegistryError as err:
        print(f"a host signature copied onto another record is refused: {err}")

    tombstone = build.make_tombstone(alice.private_key, resource.id, echo.host, "echo", now + 1)
    replica_a = [echo, ping]
    replica_b = [ping, remote, tombstone]
    state = merge(replica_a, replica_b)
    print("merged view of two replicas (the tombstone hides 'echo'):")
    for record in live_records(state.values(), now + 2):
        view = Record.of(record, addr_text=addr_text)
        print(f"  {view.service_id:<6} issuer={view.issuer[-8:]} host={view.host[-8:]} value={view.value!r}")
    print(f"signatures verified: {verifier.verifications}, cache hits: {verifier.cache_hits}")


if __name__ == "__main__":
    main()
