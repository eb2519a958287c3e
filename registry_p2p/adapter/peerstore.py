"""py-libp2p's peerstore raises PeerStoreError for a peer it never heard of (or whose addresses expired)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from libp2p.peer.peerstore import PeerStoreError

if TYPE_CHECKING:
    from libp2p.peer.id import ID
    from multiaddr import Multiaddr

    from registry_p2p.adapter.types import HostLike


def known_addrs(host: HostLike, peer: ID) -> list[Multiaddr]:
    """The addresses `host`'s peerstore holds for `peer`: none, rather than an error, when unknown."""
    try:
        return list(host.get_peerstore().addrs(peer))
    except PeerStoreError:
        return []
