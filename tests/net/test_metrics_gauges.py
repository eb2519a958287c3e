"""The in-process exporter: build_info, and the watchers gauge following watches opened and closed
through a node (the remote side, peers subscribed to a resource, is tested through processes in
tests/cli/test_operator.py)."""

from __future__ import annotations

import importlib.metadata
import platform

import trio

import registry_p2p
from registry_p2p.metrics import NodeMetrics
from registry_p2p.node import open_node


def samples(metrics: NodeMetrics) -> dict[str, tuple[dict[str, str], float]]:
    out = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            key = sample.name + "".join(f"/{v}" for v in sample.labels.values())
            out[key] = (sample.labels, sample.value)
    return out


async def test_build_info_and_local_watches() -> None:
    async with open_node(["/ip4/127.0.0.1/tcp/0"]) as node:
        metrics = NodeMetrics(node)
        (labels, value) = next(v for k, v in samples(metrics).items() if k.startswith("registry_p2p_build_info/"))
        assert value == 1
        assert labels == {
            "version": registry_p2p.__version__,
            "python": platform.python_version(),
            "libp2p": importlib.metadata.version("libp2p"),
        }
        rid = await node.registry.create_resource("gauges")
        assert samples(metrics)["registry_p2p_watchers/local"][1] == 0
        with trio.fail_after(10):
            async with node.registry.watch(rid), node.registry.watch(rid):
                assert samples(metrics)["registry_p2p_watchers/local"][1] == 2
                assert samples(metrics)["registry_p2p_watchers/remote"][1] == 0
        assert samples(metrics)["registry_p2p_watchers/local"][1] == 0
