"""What an application's py-libp2p gossipsub allows, read from the objects it gave us."""

from __future__ import annotations

from typing import Any


def topic_rate_limit(pubsub: Any) -> float | None:
    """Messages per second and topic that py-libp2p's spam protection lets one peer publish or
    forward (the rest are dropped without a word); None when its router enforces no such limit."""
    router = getattr(pubsub, "router", None)
    if not getattr(router, "spam_protection_enabled", False):
        return None
    limit = getattr(router, "max_messages_per_topic_per_second", None)
    return float(limit) if isinstance(limit, int | float) else None
