"""The state of one watch: a snapshot and incoming entries in, registered / unregistered / expired
events out. Sans-IO: time is a parameter (`now_ms` on the registry's clock).

The driver (`Registry.watch`, or a simulator) feeds the snapshot to `start`, each entry the change
feed delivers to `on_entry`, and calls `expire` when `next_expiry()` comes. Delivery may be late,
out of order or repeated: every entry goes through core's precedence rule (`precedence.wins`), so
only an entry that supersedes what the watch knows for its identity makes an event:
- a live record that wins: "registered" (a renewal is registered again, with its new expiry);
- a tombstone that supersedes a live record: "unregistered";
- a live record reaching its expiry: "expired", once;
- in an owner-approved resource, a grant entry (a revocation, a narrower grant) that stops
  authorizing live records of its grantee: "unregistered" for each; a record the policy refuses
  makes no event.
- a live record whose host reports it critical (a failing health check): "critical" (each re-sign
  of it, as a renewal is registered again); a record that was critical and passes again: "passing".
An expired record keeps its place in the precedence order, so an older record delivered late does
not bring the service back (resolve would not return it either).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable

from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.gossip import decode_payload
from registry_p2p.core.grants import is_authorized
from registry_p2p.core.ids import b58
from registry_p2p.core.model import Entry, Identity, SignedGrant, SignedRecord, SignedResource
from registry_p2p.core.precedence import wins
from registry_p2p.core.views import AddrText, Event, Record

REGISTERED = "registered"
UNREGISTERED = "unregistered"
EXPIRED = "expired"
CRITICAL = "critical"
PASSING = "passing"
_WITH_RECORD = (REGISTERED, CRITICAL, PASSING)


def _no_addrs(raw: bytes) -> str | None:
    return None


def event_of(
    kind: str, entry: Entry, weight: Callable[[bytes], int] | None = None, addr_text: AddrText = _no_addrs
) -> Event:
    """The event for `entry`; "registered", "critical" and "passing" carry the record (its
    addresses rendered by `addr_text`: core cannot parse multiaddrs, its driver can)."""
    record = (
        Record.of(entry, weight, addr_text=addr_text)
        if kind in _WITH_RECORD and isinstance(entry, SignedRecord)
        else None
    )
    return Event(
        kind=kind,
        resource_id=b58(entry.resource_id),
        issuer=b58(entry.issuer),
        host=b58(entry.host),
        service_id=entry.service_id,
        record=record,
    )


def message_entries(data: bytes, check: Callable[[bytes], Entry]) -> list[Entry] | None:
    """The valid entries a change-feed message carries; None when it must be rejected:
    undecodable, or an entry in it is forged, tampered or otherwise invalid (`check` raises).
    Entries that expired in transit are left out without condemning the message (its publisher
    sent them live), and so are grants that cannot be judged without their resource (unknown here)."""
    entries: list[Entry] = []
    try:
        for raw in decode_payload(data):
            try:
                entries.append(check(raw))
            except RegistryError as err:
                if err.status not in (Status.EXPIRED, Status.UNKNOWN_RESOURCE):
                    return None
    except Exception:  # RegistryError from a bad batch, or any decoding surprise: the sender's fault
        return None
    return entries


class WatchState:
    """What one watcher knows per identity, and which of its records it has reported live."""

    def __init__(
        self,
        weight: Callable[[bytes], int] | None = None,
        addr_text: AddrText = _no_addrs,
        resource: SignedResource | None = None,
    ) -> None:
        self._weight = weight
        self._addr_text = addr_text
        # The resource's write policy, when known; None: every valid record counts (open).
        self.resource = resource
        self._grants: dict[bytes, SignedGrant] = {}
        self._winning: dict[Identity, Entry] = {}
        self._live: dict[Identity, SignedRecord] = {}
        self._expiries: list[tuple[int, Identity]] = []  # a heap; stale items are skipped

    def start(self, snapshot: Iterable[Entry], now_ms: int) -> list[Event]:
        """The records already there, as "registered" events; tombstones and expired records are
        remembered (for precedence) without an event. Grants are applied first: they decide which
        records stand."""
        ordered = sorted(snapshot, key=lambda e: not isinstance(e, SignedGrant))
        return [event for entry in ordered for event in self._apply(entry, now_ms)]

    def grant_of(self, grantee: bytes) -> SignedGrant | None:
        return self._grants.get(grantee)

    def on_entry(self, entry: Entry, now_ms: int) -> list[Event]:
        """An entry from the change feed: the expiries already due, then what this entry changes."""
        return [*self.expire(now_ms), *self._apply(entry, now_ms)]

    def next_expiry(self) -> int | None:
        """When (ms) the next live record expires; None when none is live."""
        while self._expiries:
            at, identity = self._expiries[0]
            live = self._live.get(identity)
            if live is not None and live.expires_at_ms == at:
                return at
            heapq.heappop(self._expiries)
        return None

    def expire(self, now_ms: int) -> list[Event]:
        """ "expired" events for the live records whose expiry is at or before `now_ms`."""
        events: list[Event] = []
        while (at := self.next_expiry()) is not None and at <= now_ms:
            _, identity = heapq.heappop(self._expiries)
            events.append(event_of(EXPIRED, self._live.pop(identity), self._weight, self._addr_text))
        return events

    def live(self) -> list[SignedRecord]:
        """The records reported registered and not expired, unregistered or superseded since."""
        return list(self._live.values())

    def _apply(self, entry: Entry, now_ms: int) -> list[Event]:
        identity = entry.identity
        current = self._winning.get(identity)
        if current is not None and not wins(entry, current):
            return []  # a duplicate, or older than what we know
        if isinstance(entry, SignedGrant):
            self._winning[identity] = entry
            self._grants[entry.grantee] = entry
            return self._unauthorized(entry.grantee, now_ms)
        if (
            self.resource is not None
            and self.resource.owner_approved
            and not is_authorized(self.resource, entry, self._grants.get(entry.issuer), now_ms)
        ):
            return []  # the policy refuses it: it changes nothing a resolve would return
        self._winning[identity] = entry
        was_live = self._live.pop(identity, None)
        if isinstance(entry, SignedRecord):
            if entry.expires_at_ms > now_ms:
                self._live[identity] = entry
                heapq.heappush(self._expiries, (entry.expires_at_ms, identity))
                if not entry.passing:
                    kind = CRITICAL
                elif was_live is not None and not was_live.passing:
                    kind = PASSING
                else:
                    kind = REGISTERED
                return [event_of(kind, entry, self._weight, self._addr_text)]
            # Superseded by a record that is already past its expiry: the service is gone.
            return [event_of(EXPIRED, entry, self._weight, self._addr_text)] if was_live is not None else []
        return [event_of(UNREGISTERED, entry, self._weight, self._addr_text)] if was_live is not None else []

    def _unauthorized(self, grantee: bytes, now_ms: int) -> list[Event]:
        """ "unregistered" for the grantee's live records its winning grant entry no longer authorizes."""
        resource = self.resource
        if resource is None or not resource.owner_approved:
            return []
        grant = self._grants.get(grantee)
        gone = [
            identity
            for identity, record in self._live.items()
            if record.issuer == grantee and not is_authorized(resource, record, grant, now_ms)
        ]
        events: list[Event] = []
        for identity in gone:
            record = self._live.pop(identity)
            events.append(event_of(UNREGISTERED, record, self._weight, self._addr_text))
        return events
