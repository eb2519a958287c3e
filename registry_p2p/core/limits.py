"""Limits and defaults of DESIGN §7. Every number is configurable through `Limits`."""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    replica_set_size: int = 20
    default_ttl_s: int = 24 * 3600
    min_ttl_s: int = 60
    max_ttl_s: int = 72 * 3600
    max_value_bytes: int = 4 * KIB
    max_label_bytes: int = 255
    max_service_id_bytes: int = 128
    max_addrs: int = 16
    max_addr_bytes: int = 256
    max_message_bytes: int = 1 * MIB
    max_records_per_resource: int = 256
    max_records_per_issuer: int = 1024
    # One issuer's share of a resource: with incumbents keeping their places, one identity alone
    # must not be able to fill a resource and shut every newcomer out.
    max_records_per_issuer_per_resource: int = 128
    # Records this node hosts (countersigns, keeps and renews) for other issuers (HostSign): each
    # costs it a renewal write to every replica for as long as it lives, so they are bounded per
    # issuer and in total; the node's own services are not (attacks.md §5: 3,000 from one issuer).
    max_hosted_per_remote_issuer: int = 128
    max_hosted_for_others: int = 4096
    # Grants and revocations an owner-approved resource holds (one per grantee).
    max_grants_per_resource: int = 1024
    requests_per_second: float = 100.0
    request_burst: int = 200
    max_clock_skew_ms: int = 60_000
    # A resource with no live entries is collected this long after its created_at (Fluence: 24 h).
    resource_ttl_s: int = 24 * 3600
    # Tombstones for identities a node never held, per resource: bounds what a flood of them costs.
    max_orphan_tombstones_per_resource: int = 1024
    # Every live tombstone of a resource, orphan or not: bounds its digest and what a replica
    # holds however the tombstones got there (records put and deleted in one batch included).
    max_tombstones_per_resource: int = 2048
    # Resources a node stores: per owner, and in total (attacks.md §1: one owner sent 20,000).
    max_resources_per_owner: int = 1024
    max_resources_total: int = 100_000
    # What one peer, and all peers together, may hold of a node's registry streams and of the
    # memory buffering frames still arriving, and how many reply bytes a peer gets per second
    # (a 41-byte GetEntries answered with 1 MiB amplified 25,000 times under a per-request limit).
    max_streams_per_peer: int = 16
    max_streams_total: int = 1024
    # Inbound streams of every protocol that a peer, and all peers, have in flight (from arrival
    # to the end of their handler): beyond either, a stream is reset before protocol negotiation,
    # which is most of what a stream costs the node. Not above max_streams_per_peer: a stream the
    # registry refuses is negotiated first, and its reset frees a place here for the next one.
    max_inbound_streams_per_peer: int = 16
    max_inbound_streams_total: int = 4096
    max_partial_bytes_per_peer: int = 2 * MIB
    max_partial_bytes_total: int = 64 * MIB
    reply_bytes_per_second: int = 16 * MIB
    reply_bytes_burst: int = 32 * MIB
    # Connections a node keeps open (inbound and outbound): above three quarters of it, idle ones
    # (no open stream, past their grace period) are closed, inbound and oldest first.
    max_connections: int = 256
    # Rendezvous (core/rendezvous.py): namespaces are resources of one well-known owner and
    # registrations its records, so they get quotas of their own instead of that owner's.
    # One peer's registrations are capped at the spec's 1,000 (core.rendezvous).
    max_rendezvous_namespaces: int = 10_000
    max_registrations_per_namespace: int = 10_000
    max_rendezvous_registrations: int = 100_000

    @property
    def tombstone_lifetime_ms(self) -> int:
        """A tombstone outlives every record it can hide (see DESIGN §6)."""
        return self.max_ttl_s * 1000

    def check(self) -> None:
        """Raise ValueError naming the first inconsistent setting."""
        if not 0 < self.min_ttl_s <= self.default_ttl_s <= self.max_ttl_s:
            raise ValueError("need 0 < min_ttl_s <= default_ttl_s <= max_ttl_s")
        for name in (
            "replica_set_size",
            "max_value_bytes",
            "max_label_bytes",
            "max_service_id_bytes",
            "max_message_bytes",
            "max_records_per_resource",
            "max_records_per_issuer",
            "max_records_per_issuer_per_resource",
            "max_hosted_per_remote_issuer",
            "max_hosted_for_others",
            "max_grants_per_resource",
            "request_burst",
            "max_addrs",
            "max_addr_bytes",
            "resource_ttl_s",
            "max_orphan_tombstones_per_resource",
            "max_tombstones_per_resource",
            "max_resources_per_owner",
            "max_resources_total",
            "max_streams_per_peer",
            "max_streams_total",
            "max_inbound_streams_per_peer",
            "max_inbound_streams_total",
            "max_partial_bytes_per_peer",
            "max_partial_bytes_total",
            "reply_bytes_per_second",
            "reply_bytes_burst",
            "max_connections",
            "max_rendezvous_namespaces",
            "max_registrations_per_namespace",
            "max_rendezvous_registrations",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        if self.max_clock_skew_ms < 0:
            raise ValueError("max_clock_skew_ms must not be negative")


DEFAULT_LIMITS = Limits()
