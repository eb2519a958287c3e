"""CLI latency benchmark: `python -m registry_p2p.tools.bench_cli [--runs N]` (`make bench-cli`).

Starts two nodes on 127.0.0.1 (A with --api, B joined through A), then times whole `registry-p2p`
processes, wall clock from spawn to exit, N runs each: resolve and register through A's API (the
verbs find it through --data-dir), --help, and the same resolve and register as light nodes
(--bootstrap) as the baseline, with the interpreter's bare start (`python -c pass`) as the floor.
Prints p50 and p99 per command and the ratios to the baselines measured in the same run; the
goal of issue 12 (resolve and register under 250 ms against a local node) is shown next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_MS = 250.0
EXE = Path(sys.executable).with_name("registry-p2p")
CLI = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "registry_p2p.cli"]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_P2P_")}


def _node(args: list[str]) -> tuple[subprocess.Popen[str], dict[str, object]]:
    proc = subprocess.Popen([*CLI, "node", "--json", *args], stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the ready line (node exits with an error line on stderr otherwise)
    if not line:
        raise SystemExit(f"node {args} did not start (exit {proc.wait()})")
    return proc, json.loads(line)


def _time(command: list[str], runs: int) -> list[float]:
    subprocess.run(command, capture_output=True, env=ENV, check=True)  # warm the page cache
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, env=ENV, check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        listen = ["--listen", "/ip4/127.0.0.1/tcp/0"]
        a, ready = _node([*listen, "--data-dir", str(base / "a"), "--api", "127.0.0.1:0"])
        addrs = ready["addrs"]
        assert isinstance(addrs, list)
        b, _ = _node([*listen, "--data-dir", str(base / "b"), "--bootstrap", str(addrs[0])])
        try:
            node = ["--data-dir", str(base / "a")]
            subprocess.run([*CLI, "keygen", "--data-dir", str(base / "me")], capture_output=True, env=ENV, check=True)
            created = subprocess.run(
                [*CLI, "resource", "create", "bench", *node], capture_output=True, text=True, env=ENV, check=True
            )
            rid = created.stdout.strip()
            light = ["--bootstrap", str(addrs[0])]
            commands = {
                "python -c pass": [sys.executable, "-c", "pass"],
                "resolve (local node)": [*CLI, "resolve", rid, *node],
                "register (local node)": [*CLI, "register", rid, "--value", "v", "--service-id", "api", *node],
                "--help": [*CLI, "--help"],
                "resolve (light node)": [*CLI, "resolve", rid, *light],
                "register (light node)": [
                    *CLI,
                    *("register", rid, "--value", "v", "--service-id", "light"),
                    *("--data-dir", str(base / "me"), *light),
                ],
            }
            results = {name: _time(command, args.runs) for name, command in commands.items()}
        finally:
            for proc in (a, b):
                proc.terminate()
                proc.wait(timeout=30)
    floor = statistics.median(results["python -c pass"])
    print(f"{'command':<24} {'p50 ms':>8} {'p99 ms':>8} {'/ python':>9} {'/ light':>8}   ({args.runs} runs each)")
    for name, samples in results.items():
        p50 = statistics.median(samples)
        baseline = results.get(name.replace("local node", "light node")) if "local node" in name else None
        versus = f"{p50 / statistics.median(baseline):8.2f}" if baseline else f"{'':>8}"
        goal = ""
        if "local node" in name:
            goal = f"   goal < {GOAL_MS:g} ms: {'met' if p50 < GOAL_MS else 'NOT met'}"
        print(f"{name:<24} {p50:8.0f} {_p99(samples):8.0f} {p50 / floor:9.2f} {versus}{goal}")
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
