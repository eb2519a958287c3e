"""A host of short-lived records for the soft-state test: `python soft_host.py BOOTSTRAP COUNT TTL`.

Joins through BOOTSTRAP as a serving node, creates the resource "soft", registers COUNT records
of its own with TTL seconds, prints {"resource_id": ...}, then {"renewed": N, "at_ms": ...}
once its renew loop has renewed all of them once, and keeps running (renewing) until killed.
"""

from __future__ import annotations

import json
import sys

import trio

from registry_p2p.node import open_node
from registry_p2p.registry import wall_clock_ms


def say(document: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


async def main(bootstrap: str, count: int, ttl: int) -> None:
    async with open_node(["/ip4/127.0.0.1/tcp/0"], [bootstrap], require_bootstrap=True) as node:
        rid = await node.registry.create_resource("soft")
        for i in range(count):
            out = await node.registry.register_service(rid, b"alive", service_id=f"soft-{i}", ttl=ttl, ack=1)
            assert out.ok, out
        say({"resource_id": rid})
        # No event tells a renewal; the count is read where the renew loop keeps it.
        while node.registry.maintenance.renewed < count:
            await trio.sleep(0.1)
        say({"renewed": node.registry.maintenance.renewed, "at_ms": wall_clock_ms()})
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
