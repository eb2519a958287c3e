"""py-libp2p announces a topic subscribed while a peer's pubsub stream is opening to nobody:
`announce_to_late_peers` closes that window (the one a watch opens by dialing before it joins)."""

from __future__ import annotations

from typing import Any

import trio

from registry_p2p.adapter.late_subscribers import announce_to_late_peers

from .test_mount import default_stack


class _HeldStream:
    """A stream whose first write (pubsub's hello packet) waits until the test releases it."""

    def __init__(self, stream: Any, writing: trio.Event, release: trio.Event) -> None:
        self._stream = stream
        self._writing = writing
        self._release = release
        self._held = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    async def write(self, data: bytes) -> None:
        if not self._held:
            self._held = True
            self._writing.set()
            await self._release.wait()
        await self._stream.write(data)


async def _subscribe_inside_the_window(fix: bool) -> bool:
    """A subscribes to `late` after its hello to B was built but before B was registered, then to
    `marker` normally. True when B learned of `late` by the time it learned of `marker`."""
    async with default_stack() as (host_a, _dht_a, pubsub_a), default_stack() as (host_b, _dht_b, pubsub_b):
        writing, release = trio.Event(), trio.Event()
        new_stream = host_a.new_stream

        async def holding_new_stream(peer: Any, protocols: Any) -> Any:
            stream = await new_stream(peer, protocols)
            if any("meshsub" in str(p) for p in protocols):
                return _HeldStream(stream, writing, release)
            return stream

        host_a.new_stream = holding_new_stream
        from libp2p.peer.peerinfo import PeerInfo

        await host_b.connect(PeerInfo(host_a.get_id(), host_a.get_addrs()))
        with trio.fail_after(10):
            await writing.wait()
        assert host_b.get_id() not in pubsub_a.peers
        await pubsub_a.subscribe("late")
        async with trio.open_nursery() as nursery:
            if fix:
                nursery.start_soon(announce_to_late_peers, pubsub_a, "late", 5.0)
            release.set()
            with trio.fail_after(10):
                await pubsub_a.wait_for_peer(host_b.get_id(), timeout=10)
            await pubsub_a.subscribe("marker")
            with trio.fail_after(10):
                await pubsub_b.wait_for_subscription(host_a.get_id(), "marker", timeout=10)
        # The nursery waited for the re-announcement, queued before `marker` on the same stream.
        if fix:
            with trio.fail_after(10):
                await pubsub_b.wait_for_subscription(host_a.get_id(), "late", timeout=10)
        return host_a.get_id() in pubsub_b.peer_topics.get("late", set())


async def test_without_the_fix_the_peer_never_learns_the_topic() -> None:
    """The py-libp2p behaviour this works around: if this starts failing, py-libp2p fixed it."""
    with trio.fail_after(60):
        assert not await _subscribe_inside_the_window(fix=False)


async def test_a_late_peer_learns_the_topic_once_registered() -> None:
    with trio.fail_after(60):
        assert await _subscribe_inside_the_window(fix=True)
