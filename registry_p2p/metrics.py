"""Prometheus metrics of a registry node (`registry-p2p node --metrics HOST:PORT`).

The endpoint answers `/metrics` (the Prometheus text), `/health` (a small JSON document for
load balancers and systemd) and 404 on every other path: it used to answer 200 with the
metrics page whatever the path, so a mistyped scrape or health check never failed.

Counters and histograms are fed by the hooks the registry offers (`Registry.on_latency`,
`RegistryServer.on_request`); everything else (entries stored, maintenance totals, connected
peers, replica-set sizes) is read when Prometheus scrapes, so it costs nothing in between.
Each `NodeMetrics` has its own `CollectorRegistry`: several nodes can live in one process.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from registry_p2p import __version__
from registry_p2p.core.errors import Status

log = logging.getLogger("registry_p2p.metrics")

PREFIX = "registry_p2p"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 6.0, 10.0)
REPLICA_SET_BUCKETS = (1, 2, 3, 5, 8, 13, 20, 40)


class NodeMetrics:
    """Attach to a started node (`registry_p2p.node.Node`); `serve` exposes /metrics over HTTP."""

    def __init__(self, node: Any) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series add nothing here
        self.node = node
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            f"{PREFIX}_requests",
            "Requests this node answered on /registry/1.0.0, by type and status",
            ["type", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            f"{PREFIX}_request_seconds",
            "Time this node spent answering a request (store and signature checks), by type",
            ["type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_operation_seconds",
            "Latency of register and resolve calls made through this node",
            ["op"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(node))
        self._server: Any = None
        registry = node.registry
        previous_latency = registry.on_latency

        def on_latency(op: str, seconds: float) -> None:
            self.latency.labels(op).observe(seconds)
            if previous_latency is not None:
                previous_latency(op, seconds)

        registry.on_latency = on_latency
        if registry.server is not None:
            previous_request = registry.server.on_request

            def on_request(kind: str, status: Status, seconds: float) -> None:
                self.requests.labels(kind, status.name).inc()
                self.request_seconds.labels(kind).observe(seconds)
                if previous_request is not None:
                    previous_request(kind, status, seconds)

            registry.server.on_request = on_request

    def serve(self, host: str, port: int) -> tuple[str, int]:
        """Start the HTTP endpoint (a daemon thread); return the address it listens on."""
        server_class = _Server6 if ":" in host else _Server
        server = make_server(host, port, self.wsgi_app(), server_class, _QuietHandler)
        threading.Thread(target=server.serve_forever, name="registry-p2p-metrics", daemon=True).start()
        self._server = server
        bound = server.server_address
        return str(bound[0]), int(bound[1])

    def wsgi_app(self) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
        """/metrics, /health, and 404 for the rest."""
        metrics_app = make_wsgi_app(self.registry)

        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
                return _answer(start_response, "405 Method Not Allowed", {"error": "only GET and HEAD"})
            if path == "/metrics":
                return metrics_app(environ, start_response)  # type: ignore[no-any-return]
            if path == "/health":
                return _answer(start_response, "200 OK", self.health())
            return _answer(start_response, "404 Not Found", {"error": f"no such path {path}: see /metrics, /health"})

        return app

    def health(self) -> dict[str, Any]:
        """Alive and serving: the peer id and how many peers it is connected to."""
        return {
            "status": "ok",
            "peer_id": str(self.node.host.get_id()),
            "connected_peers": len(self.node.host.get_connected_peers()),
            "version": __version__,
        }

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _answer(start_response: Any, status: str, document: dict[str, Any]) -> list[bytes]:
    body = json.dumps(document).encode() + b"\n"
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Each scrape is no news: nothing on stderr."""


def build_info() -> dict[str, str]:
    """What this node runs: the labels of registry_p2p_build_info."""
    try:
        libp2p = importlib.metadata.version("libp2p")
    except importlib.metadata.PackageNotFoundError:
        libp2p = "unknown"
    return {"version": __version__, "python": platform.python_version(), "libp2p": libp2p}


class _StateCollector(Collector):
    """Read at scrape time, in the HTTP server's thread: the store serialises access with its own
    lock, and the other reads are snapshots of plain Python containers."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.build = build_info()

    def collect(self) -> Iterator[Metric]:
        registry = self.node.registry
        info = GaugeMetricFamily(f"{PREFIX}_build_info", "What this node runs (always 1)", labels=list(self.build))
        info.add_metric(list(self.build.values()), 1)
        yield info
        notifier = registry.notifier
        if notifier is not None:
            watchers = GaugeMetricFamily(
                f"{PREFIX}_watchers",
                "Active watches: opened through this node (local), and connected peers subscribed to a"
                " resource's changes (remote, one per peer and resource)",
                labels=["where"],
            )
            watchers.add_metric(["local"], notifier.watch_count())
            watchers.add_metric(["remote"], notifier.remote_watcher_count())
            yield watchers
        store = self.node.store
        if store is not None:
            entries = GaugeMetricFamily(
                f"{PREFIX}_entries_stored", "Rows in this node's store, by kind", labels=["kind"]
            )
            try:
                for kind, count in store.counts().items():
                    entries.add_metric([kind], count)
            except Exception as exc:  # the store is closing: skip this sample rather than fail the scrape
                log.debug("store counts unavailable: %s", exc)
            yield entries
        stats = registry.maintenance
        yield _counter("replication_rounds", "Anti-entropy rounds run", stats.replicate_rounds)
        yield _counter("replication_pushed_entries", "Entries pushed to replicas by anti-entropy", stats.pushed_entries)
        yield _counter("replication_pushed_bytes", "Bytes of entries pushed by anti-entropy", stats.pushed_bytes)
        yield _counter(
            "replication_pulled_entries", "Entries pulled from replicas by anti-entropy", stats.pulled_entries
        )
        yield _counter("replication_dht_puts", "Resources put into the DHT by anti-entropy", stats.dht_puts)
        yield _counter("renewed_records", "Host records re-signed by this node", stats.renewed)
        gc = CounterMetricFamily(f"{PREFIX}_gc_removed", "Rows removed by garbage collection, by kind", labels=["kind"])
        gc.add_metric(["records"], stats.gc_records)
        gc.add_metric(["tombstones"], stats.gc_tombstones)
        gc.add_metric(["resources"], stats.gc_resources)
        yield gc
        peers = GaugeMetricFamily(f"{PREFIX}_connected_peers", "Peers this node is connected to")
        peers.add_metric([], len(self.node.host.get_connected_peers()))
        yield peers
        yield _histogram(
            "replica_set_size",
            "Sizes of the replica sets this node has looked up (cached)",
            registry.routing.cached_sizes(),
        )


def _counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", documentation, value=value)


def _histogram(name: str, documentation: str, values: list[int]) -> HistogramMetricFamily:
    buckets = [(str(bound), sum(1 for v in values if v <= bound)) for bound in REPLICA_SET_BUCKETS]
    buckets.append(("+Inf", len(values)))
    return HistogramMetricFamily(f"{PREFIX}_{name}", documentation, buckets=buckets, sum_value=sum(values))
