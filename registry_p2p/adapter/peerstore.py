"""py-libp2p's peerstore raises PeerStoreError for a peer it never heard of (or whose addresses expired)."""

from __future__ import annotations

from typing import Any

from libp2p.peer.peerstore import PeerStoreError


def known_addrs(host: Any, peer: Any) -> list[Any]:
    """The addresses `host`'s peerstore holds for `peer`: none, rather than an error, when unknown."""
    try:
        return list(host.get_peerstore().addrs(peer))
    except PeerStoreError:
        return []
