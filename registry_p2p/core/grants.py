"""Owner-approved resources: is this record authorized? Pure functions over decoded entries.

A resource's write policy (`SignedResource.policy`) is "open" (any valid record) or
"owner-approved": then a record is accepted only from the owner, or from an issuer whose winning
grant entry (the one precedence rule decides between a grant and a revocation) is a live grant
whose service prefix begins the record's service id. A tombstone (an unregister) is accepted from
the owner and from any issuer the owner ever granted (even since revoked: deleting one's own
records is always allowed); a stranger's is refused like its records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.ids import b58
from registry_p2p.core.model import Entry, SignedGrant, SignedRecord, SignedResource, SignedTombstone


def grant_allows(grant: SignedGrant | None, service_id: str, now_ms: int) -> bool:
    """True when `grant` (the winning grant entry of an issuer) lets it write `service_id` now."""
    if grant is None or grant.revoked:
        return False
    if grant.expires_at_ms and grant.expires_at_ms <= now_ms:
        return False
    return service_id.startswith(grant.service_prefix)


def authorization_error(
    resource: SignedResource, entry: SignedRecord | SignedTombstone, grant: SignedGrant | None, now_ms: int
) -> str | None:
    """None when `entry` may be stored under `resource`'s policy; otherwise why not.
    `grant` is the winning grant entry of the entry's issuer in that resource, if any."""
    if not resource.owner_approved or entry.issuer == resource.owner:
        return None
    if grant is not None and grant.grantee != entry.issuer:
        raise ValueError("the grant given is another issuer's")
    if isinstance(entry, SignedTombstone):
        return None if grant is not None else f"issuer {b58(entry.issuer)} holds no grant in this resource"
    if grant_allows(grant, entry.service_id, now_ms):
        return None
    if grant is None:
        return f"issuer {b58(entry.issuer)} holds no grant in this owner-approved resource"
    if grant.revoked:
        return f"the grant of issuer {b58(entry.issuer)} was revoked"
    if grant.expires_at_ms and grant.expires_at_ms <= now_ms:
        return f"the grant of issuer {b58(entry.issuer)} expired"
    return f"the grant of issuer {b58(entry.issuer)} covers only service ids beginning with {grant.service_prefix!r}"


def is_authorized(
    resource: SignedResource, entry: SignedRecord | SignedTombstone, grant: SignedGrant | None, now_ms: int
) -> bool:
    return authorization_error(resource, entry, grant, now_ms) is None


def check_authorized(
    resource: SignedResource, entry: SignedRecord | SignedTombstone, grant: SignedGrant | None, now_ms: int
) -> None:
    """Raise NOT_AUTHORIZED unless `entry` may be stored under `resource`'s policy."""
    why = authorization_error(resource, entry, grant, now_ms)
    if why is not None:
        raise RegistryError(Status.NOT_AUTHORIZED, why)


def grants_of(entries: Iterable[Entry]) -> dict[bytes, SignedGrant]:
    """Grantee -> its grant entry among merged `entries` (one per identity, so one per grantee)."""
    return {e.grantee: e for e in entries if isinstance(e, SignedGrant)}


def authorized(
    resource: SignedResource | None, entries: Iterable[Entry], now_ms: int, grants: Mapping[bytes, SignedGrant]
) -> list[Entry]:
    """The entries of a merged state that `resource`'s policy lets stand: grants, and the records
    and tombstones `is_authorized` accepts. Without a resource nothing can be judged: all stand."""
    if resource is None or not resource.owner_approved:
        return list(entries)
    return [
        e for e in entries if isinstance(e, SignedGrant) or is_authorized(resource, e, grants.get(e.issuer), now_ms)
    ]
