"""What renewing a host's records costs: messages and bytes per record per hour.

    registry-p2p bench-renewal [--records 1,100,10000] [--ttl 86400,60] [--cycles 3] [--nodes 4] [--k 4]

Drives the real renew loop (`Maintenance.renew_loop`, batched per resource) on a loopback
network whose nodes share one clock, which stands still except when the bench moves it forward
by half the TTL per cycle so that every record falls due; counts the /registry/1.0.0 frames the
host sends and receives for it (PutEntries requests to the replicas and their answers; bytes =
framed size). Renewals per hour
= 3600 / (TTL / 2), as the loop renews a record when half its TTL is left.

Baseline, measured in the same run: the renewal path before batching, one PutEntries write per
record (`writes.write` with one entry), on 100 records at each TTL; its cost per record does not
depend on how many records a host has, so the ratios for 1 and 10,000 records use it too.

Records go 100 to a resource (a resource holds at most 128 of one issuer by default); the run
raises the per-issuer limit (1024 by default) to hold 10,000 records of one host.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import trio

from registry_p2p.core import build
from registry_p2p.core.config import RegistryConfig
from registry_p2p.core.ids import resource_id_from_text
from registry_p2p.net.framing import encode_frame
from registry_p2p.node import Node
from registry_p2p.pb import registry_pb2 as pb
from registry_p2p.registry import wall_clock_ms
from registry_p2p.testnet import network

PER_RESOURCE = 100
MAX_CYCLE_S = 900.0
BASELINE_RECORDS = 100


@dataclass
class Counter:
    frames: int = 0
    bytes: int = 0
    active: bool = False

    def wrap(self, node: Node) -> None:
        """Count the frames `node`'s client exchanges for PutEntries while active."""
        client = node.registry.client
        original = client.request

        async def counted(peer: Any, message: pb.Message, timeout: float | None = None) -> pb.Message:
            reply = await original(peer, message, timeout)
            if self.active and message.WhichOneof("body") == "put_entries":
                self.frames += 2
                self.bytes += len(encode_frame(message)) + len(encode_frame(reply))
            return reply

        client.request = counted  # type: ignore[method-assign]


@dataclass
class Figures:
    messages_per_record_hour: float
    bytes_per_record_hour: float
    cycle_ms: list[float]
    renewed: int = 0  # renewals made
    due: int = 0  # renewals that were due (more than made: the host fell behind its TTLs)


def _config(k: int, records: int) -> RegistryConfig:
    base = RegistryConfig()
    return replace(
        base,
        limits=replace(base.limits, replica_set_size=k, max_records_per_issuer=max(records, 1) + PER_RESOURCE),
        replicate_interval_s=1e6,
        renew_interval_s=1e6,
        gc_interval_s=1e6,
        startup_replicate_delay_s=None,
        jitter=0.0,
    )


async def _setup(host: Node, records: int, ttl_s: int, clock: Callable[[], int]) -> list[Any]:
    """`records` records of `host`, PER_RESOURCE to a resource, stored on their replica sets."""
    registry = host.registry
    resources = []
    for start in range(0, records, PER_RESOURCE):
        rid_text = await registry.create_resource(f"renewal-{ttl_s}-{records}-{start}")
        resource, _ = await registry.resources.for_write(resource_id_from_text(rid_text))
        raws = [
            build.make_record(
                registry.key, resource.id, f"svc-{i}", b"x" * 32, clock(), ttl_s, registry.own_addrs(), registry.limits
            ).encode()
            for i in range(start, min(records, start + PER_RESOURCE))
        ]
        await registry.writes.write(resource, raws, 1, extra=[])
        resources.append(resource)
    await registry.settle(60)
    return resources


async def measure(records: int, ttl_s: int, cycles: int, nodes: int, k: int, baseline: bool) -> Figures:
    # The nodes' one clock stands still but for the bench's steps: setting up 10,000 records
    # takes longer than a 60 s TTL, and no record must expire before its renewal is measured.
    start_ms = wall_clock_ms()
    offset = [0]

    def clock() -> int:
        return start_ms + offset[0]

    async with network(nodes, _config(k, records), clock_ms=clock) as net:
        host = net.nodes[0]
        counter = Counter()
        counter.wrap(host)
        resources = await _setup(host, records, ttl_s, clock)
        registry = host.registry
        cycle_ms: list[float] = []
        renewed_total = 0
        for _ in range(cycles):
            offset[0] += ttl_s * 500 + 1000  # half the TTL and a second: every record is due
            counter.active = True
            started = trio.current_time()
            if baseline:  # the path before batching: one write per record
                assert registry.store is not None
                due = registry.store.due_for_renewal(clock())[:BASELINE_RECORDS]
                for record in due:
                    fresh = build.renew(registry.key, record, clock(), registry.own_addrs() or None, registry.limits)
                    resource = registry.store.get_resource(record.resource_id)
                    assert resource is not None
                    await registry.writes.write(resource, [fresh.encode()], 1, extra=[])
                renewed_total += len(due)
            else:
                before = registry.maintenance.renewed
                registry.maintainer.wake_renewal()
                # Done when every record is renewed (the clock stands still meanwhile: none
                # expires), or when none is left due; a cycle longer than TTL / 2 of wall time
                # would mean this host cannot keep its records renewed (see the cycle columns).
                with trio.move_on_after(MAX_CYCLE_S):
                    while registry.maintenance.renewed < before + records:
                        assert registry.store is not None
                        if registry.maintenance.renewed > before and not registry.store.due_for_renewal(clock()):
                            break
                        await trio.sleep(0.005)
                renewed_total += registry.maintenance.renewed - before
            await registry.settle(60)
            cycle_ms.append((trio.current_time() - started) * 1000)
            counter.active = False
        del resources
        renewals_per_hour = 3600 / (ttl_s / 2)
        made = max(1, renewed_total)
        return Figures(
            messages_per_record_hour=counter.frames / made * renewals_per_hour,
            bytes_per_record_hour=counter.bytes / made * renewals_per_hour,
            cycle_ms=cycle_ms,
            renewed=renewed_total,
            due=cycles * (min(records, BASELINE_RECORDS) if baseline else records),
        )


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> int:
    print(
        f"renewal cost on a {args.nodes}-node loopback network, replica sets of {args.k}; "
        f"{args.cycles} renew cycles per case; frames and bytes the host exchanges for PutEntries"
    )
    print(
        f"{'ttl s':>7} {'records':>8} {'msgs/rec/h':>11} {'bytes/rec/h':>12} "
        f"{'cycle p50 ms':>13} {'cycle p99 ms':>13} {'msgs vs 1/rec':>14} {'bytes vs 1/rec':>15} {'renewed':>9}"
    )
    for ttl in args.ttl:
        base = await measure(BASELINE_RECORDS, ttl, args.cycles, args.nodes, args.k, baseline=True)
        print(
            f"{ttl:>7} {'baseline':>8} {base.messages_per_record_hour:>11.2f} {base.bytes_per_record_hour:>12.0f} "
            f"{_p(base.cycle_ms, 0.5):>13.1f} {_p(base.cycle_ms, 0.99):>13.1f} {'1.000':>14} {'1.000':>15}"
            f" {base.renewed / base.due:>9.0%}"
        )
        for records in args.records:
            got = await measure(records, ttl, args.cycles, args.nodes, args.k, baseline=False)
            print(
                f"{ttl:>7} {records:>8} {got.messages_per_record_hour:>11.3f} {got.bytes_per_record_hour:>12.0f} "
                f"{_p(got.cycle_ms, 0.5):>13.1f} {_p(got.cycle_ms, 0.99):>13.1f} "
                f"{got.messages_per_record_hour / base.messages_per_record_hour:>14.3f} "
                f"{got.bytes_per_record_hour / base.bytes_per_record_hour:>15.3f}"
                f" {got.renewed / got.due:>9.0%}"
            )
    print("baseline: one PutEntries write per record (the renew path before batching), 100 records")
    print("renewed: the share of due renewals the loop made; cycle: wall time of one renewal of every record,")
    print("which must stay under TTL / 2 for the host to keep up")
    print("(all nodes share one process and its CPU: the replicas' verification is in the cycle time)")
    return 0


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="registry-p2p bench-renewal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=_ints, default=[1, 100, 10_000], help="records on the host, comma-separated")
    parser.add_argument("--ttl", type=_ints, default=[86_400, 60], help="record TTLs in seconds, comma-separated")
    parser.add_argument("--cycles", type=int, default=3)
    # k = nodes: every replica set is the whole network, the host included, so every renewal goes
    # to the same number of remote replicas (k - 1) and the cases compare.
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--k", type=int, default=4)
    args = parser.parse_args(argv)
    if args.cycles < 1 or args.nodes < 2 or not 1 <= args.k <= args.nodes:
        parser.error("need --cycles >= 1, --nodes >= 2 and 1 <= --k <= --nodes")
    return trio.run(run, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
