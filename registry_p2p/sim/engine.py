"""The event loop (a plain heap) and the measurement that chose it over simpy.

`compare_engines` runs the same workload on both: `nodes` periodic timers with jitter (what
every node's replicate / renew loop is), each firing a trivial callback, until `events` fired.
simpy is imported only there (it is the `[sim-bench]` comparison, not a dependency of the run).
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from typing import Any

Action = Callable[[], None]


class Loop:
    """A discrete-event loop: (time, sequence, action) on a heap; `now` is simulated seconds."""

    __slots__ = ("_heap", "_seq", "events", "now")

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Action]] = []
        self._seq = 0
        self.events = 0

    def at(self, when: float, action: Action) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, action))

    def after(self, delay: float, action: Action) -> None:
        self.at(self.now + delay, action)

    def run_until(self, end: float) -> None:
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= end:
            when, _, action = pop(heap)
            self.now = when
            self.events += 1
            action()
        self.now = end


def _heap_workload(nodes: int, events: int, interval: float) -> float:
    rng = random.Random(1)
    loop = Loop()
    fired = [0]

    def timer(node: int) -> Action:
        def fire() -> None:
            fired[0] += 1
            loop.after(interval * rng.uniform(0.9, 1.1), fire)

        return fire

    for n in range(nodes):
        loop.at(rng.uniform(0, interval), timer(n))
    start = time.perf_counter()
    while fired[0] < events:
        loop.run_until(loop.now + interval)
    return time.perf_counter() - start


def _simpy_workload(nodes: int, events: int, interval: float) -> float:
    import simpy  # the comparison only

    rng = random.Random(1)
    env = simpy.Environment()
    fired = [0]

    def proc(env: Any) -> Any:
        yield env.timeout(rng.uniform(0, interval))
        while True:
            fired[0] += 1
            yield env.timeout(interval * rng.uniform(0.9, 1.1))

    for _ in range(nodes):
        env.process(proc(env))
    start = time.perf_counter()
    until = 0.0
    while fired[0] < events:
        until += interval
        env.run(until=until)
    return time.perf_counter() - start


def compare_engines(nodes: int = 10_000, events: int = 500_000, interval: float = 3600.0) -> dict[str, float]:
    """Seconds per million events on each engine (same workload, same process), and the ratio."""
    heap_s = _heap_workload(nodes, events, interval)
    try:
        simpy_s = _simpy_workload(nodes, events, interval)
    except ImportError:
        simpy_s = float("nan")
    scale = 1e6 / events
    return {
        "nodes": float(nodes),
        "events": float(events),
        "heap_s_per_million": heap_s * scale,
        "simpy_s_per_million": simpy_s * scale,
        "simpy_over_heap": simpy_s / heap_s if heap_s else float("nan"),
    }
