"""Owner-approved resources across the Python, Go and Rust implementations."""

from __future__ import annotations

import pytest
import trio

from registry_p2p.core import b58, resource_id_from_text
from registry_p2p.registry import wall_clock_ms

from .conftest import K, Mesh
from .test_registry import b64, register, resolve_everywhere

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240, func_only=True)]


async def test_go_records_need_a_grant_and_a_go_owner_grants_and_revokes(mesh: Mesh) -> None:
    go, owner = mesh.go, mesh.py[0]
    with trio.fail_after(180):
        rid = await owner.registry.create_resource("fleet-interop", policy="owner-approved")
        # Without a grant, every Python replica refuses the Go-issued record.
        refused = await go.cmd("register", resource_id=rid, service_id="go-svc", value_base64=b64(b"x"), ack=K)
        assert not refused["success"] and refused["acks"] == 0, refused
        assert refused["errors"] and all("NOT_AUTHORIZED" in e for e in refused["errors"].values()), refused
        # With one, it is accepted, and Python, Go and Rust resolvers agree (each checks the grant).
        assert (await owner.registry.grant(rid, go.peer_id, ack=K)).ok
        await register(go, rid, "go-svc", b"granted")
        rid_bytes = resource_id_from_text(rid)
        for i, node in enumerate(mesh.py):
            assert node.store is not None
            held = {b58(r.issuer) for r in node.store.live_records(rid_bytes, wall_clock_ms())}
            assert held == {go.peer_id}, f"py{i} holds {held}"
        views = await resolve_everywhere(mesh, rid)
        assert all(view == {(go.peer_id, go.peer_id, "go-svc", b"granted")} for view in views.values()), views

        # The Go peer as an owner: an owner-approved resource, a grant for py1 and not py2.
        created = await go.cmd("create_resource", label="go-fleet", policy="owner-approved", ack=K)
        go_rid = created["resource_id"]
        got = await go.cmd("get_resource", resource_id=go_rid)
        assert got["resource"]["policy"] == "owner-approved", got
        granted = await go.cmd("grant", resource_id=go_rid, grantee=mesh.py[1].peer_id, ack=K)
        assert granted["success"], granted
        assert (await mesh.py[1].registry.register_service(go_rid, b"py1", "svc", ack=K)).ok
        stranger = await mesh.py[2].registry.register_service(go_rid, b"py2", "svc", ack=1)
        assert not stranger.ok and all("NOT_AUTHORIZED" in e for e in stranger.errors.values()), stranger
        views = await resolve_everywhere(mesh, go_rid)
        expected = {(mesh.py[1].peer_id, mesh.py[1].peer_id, "svc", b"py1")}
        assert all(view == expected for view in views.values()), views
        grants = await mesh.py[3].registry.grants(go_rid)
        assert [(g.grantee, g.revoked) for g in grants] == [(mesh.py[1].peer_id, False)]
        # A Go-signed revocation removes py1's record from every replica and resolver.
        revoked = await go.cmd("grant", resource_id=go_rid, grantee=mesh.py[1].peer_id, revoked=True, ack=K)
        assert revoked["success"], revoked
        views = await resolve_everywhere(mesh, go_rid)
        assert all(view == set() for view in views.values()), views
