"""A stream of writes for the kill -9 test: `python writer.py BOOTSTRAP KEY_FILE MAX`.

Creates the resource "stream", prints {"resource_id": ...}, then registers services w0, w1, …
(four in flight at a time, ack=1) and prints one line per write the network acknowledged:
{"ack": "w7"} — printed only after the replica's answer said it stored the record.
"""

from __future__ import annotations

import itertools
import json
import sys

import trio

from registry_p2p.node import load_identity, open_node


def say(document: dict[str, str]) -> None:
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


async def main(bootstrap: str, key_file: str, limit: int) -> None:
    key_pair = load_identity(key_file)
    async with open_node([], [bootstrap], key_pair=key_pair, serve=False, require_bootstrap=True) as node:
        rid = await node.registry.create_resource("stream")
        say({"resource_id": rid})
        numbers = itertools.count()

        async def writer() -> None:
            for n in numbers:
                if n >= limit:
                    return
                service = f"w{n}"
                try:
                    out = await node.registry.register_service(rid, b"payload", service_id=service, ack=1)
                except Exception as exc:
                    say({"fail": service, "reason": str(exc)})
                    continue
                say({"ack": service} if out.ok else {"fail": service, "reason": str(out.errors)})

        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(writer)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
