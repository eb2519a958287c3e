"""Storage and validation benchmark: `python -m registry_p2p.tools.bench_store [--profile]`.

Prints figures, not pass/fail assertions; each target from the design brief is shown next to
its figure. Everything runs in this one process (one core); signing the test data is not timed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import PrivateKey

from registry_p2p.adapter.keys import make_verifier
from registry_p2p.core.build import make_record, make_resource
from registry_p2p.core.limits import DEFAULT_LIMITS, Limits
from registry_p2p.core.model import Entry, SignedRecord, SignedResource, decode_entry
from registry_p2p.core.precedence import merge
from registry_p2p.core.signing import peer_id_bytes_of
from registry_p2p.core.validate import validate_entry
from registry_p2p.store import Store

NOW = 1_700_000_000_000
BATCH = 100


def _keys(n: int, offset: int = 0) -> list[PrivateKey]:
    return [create_new_key_pair((offset + i).to_bytes(4, "big") * 8).private_key for i in range(n)]


def _records(keys: Sequence[PrivateKey], resource: SignedResource, n: int, tag: str) -> list[SignedRecord]:
    addrs = (bytes.fromhex("047f000001061f90"),)  # /ip4/127.0.0.1/tcp/8080
    return [
        make_record(keys[i % len(keys)], resource.id, f"{tag}-{i}", b"service value %d" % i, NOW, addrs=addrs)
        for i in range(n)
    ]


def _quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def _line(label: str, value: str, target: str = "") -> None:
    print(f"  {label:<58} {value:>14}  {target}")


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def bench_verify(records: list[SignedRecord]) -> float:
    print("signature verification (validate_entry: times, sizes, sha256 binding, signature)")
    uncached = make_verifier(cache_size=0)
    start = time.perf_counter()
    for rec in records:
        validate_entry(rec, NOW, DEFAULT_LIMITS, uncached, rec.resource_id)
    cold = len(records) / (time.perf_counter() - start)
    _line("uncached validations/s (one ed25519 verify each)", f"{cold:,.0f}")
    cached = make_verifier()
    for rec in records:
        validate_entry(rec, NOW, DEFAULT_LIMITS, cached, rec.resource_id)
    rounds = 5
    start = time.perf_counter()
    for _ in range(rounds):
        for rec in records:
            validate_entry(rec, NOW, DEFAULT_LIMITS, cached, rec.resource_id)
    warm = rounds * len(records) / (time.perf_counter() - start)
    _line("cached re-validations/s", f"{warm:,.0f}", f"target >= 100,000: {_verdict(warm >= 100_000)}")
    return warm


def _write_all(
    path: Path, batches: list[tuple[SignedResource, list[bytes]]], synchronous: Literal["NORMAL", "FULL"], warm: bool
) -> tuple[float, float]:
    """(records/s by the wall clock, records/s by this process's CPU time)."""
    verifier = make_verifier()
    if warm:
        for _, raws in batches:
            for raw in raws:
                entry = decode_entry(raw, DEFAULT_LIMITS)
                validate_entry(entry, NOW, DEFAULT_LIMITS, verifier)
    local = peer_id_bytes_of(_keys(1, 9999)[0])
    with Store(path, local_peer=local, verifier=verifier, synchronous=synchronous) as store:
        for resource, _ in batches:
            store.put_resource(resource, NOW)
        start, cpu = time.perf_counter(), time.process_time()
        for resource, raws in batches:
            whole, items = store.put_entries(resource.id, raws, NOW)
            assert whole.ok and all(i.ok for i in items), (whole, items[:3])
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    n = sum(len(raws) for _, raws in batches)
    return n / elapsed, n / cpu


def bench_writes(tmp: Path, owner: PrivateKey, keys: list[PrivateKey], n_batches: int, repeats: int = 3) -> None:
    print(f"store writes: {n_batches} batches of {BATCH} fresh records, one resource per batch, file store")
    batches: list[tuple[SignedResource, list[bytes]]] = []
    for b in range(n_batches):
        resource = make_resource(owner, f"write-bench-{b}", NOW)
        batches.append((resource, [r.encode() for r in _records(keys, resource, BATCH, f"w{b}")]))
    print(
        f"  (median of {repeats} runs by the wall clock; in brackets by CPU time, which other load on the machine"
        " hardly moves)"
    )
    for synchronous in ("NORMAL", "FULL"):
        for warm in (False, True):
            runs = [
                _write_all(tmp / f"writes-{synchronous}-{warm}-{i}.db", batches, synchronous, warm)
                for i in range(repeats)
            ]
            rate = statistics.median(r[0] for r in runs)
            cpu_rate = statistics.median(r[1] for r in runs)
            what = "signatures already verified" if warm else "verifying each signature"
            target = "" if warm else f"target >= 5,000: {_verdict(rate >= 5000)}"
            _line(f"records/s, synchronous={synchronous}, {what}", f"{rate:,.0f} ({cpu_rate:,.0f})", target)


def bench_reads(tmp: Path, owner: PrivateKey, keys: list[PrivateKey], n: int, runs: int) -> None:
    print(f"reading one resource of {n:,} records (file store, warm page cache)")
    limits = Limits(max_records_per_resource=n, max_records_per_issuer=n)
    resource = make_resource(owner, "read-bench", NOW)
    records = _records(keys, resource, n, "r")
    path = tmp / "reads.db"
    local = peer_id_bytes_of(_keys(1, 9999)[0])
    with Store(path, local_peer=local, limits=limits, verifier=make_verifier()) as store:
        store.put_resource(resource, NOW)
        for first in range(0, n, BATCH):
            whole, items = store.put_entries(resource.id, [r.encode() for r in records[first : first + BATCH]], NOW)
            assert whole.ok and all(i.ok for i in items)
    size = os.path.getsize(path)
    _line("bytes on disk per record (after checkpoint, indexes included)", f"{size / n:,.0f}")
    _line("  of which the serialized entry itself", f"{sum(len(r.encode()) for r in records) / n:,.0f}")
    with Store(path, local_peer=local, limits=limits, verifier=make_verifier()) as store:
        pages: list[float] = []
        for _ in range(runs):
            start = time.perf_counter()
            cursor, total, count = b"", 0, 0
            while True:
                page, cursor = store.get_entries(resource.id, NOW, cursor=cursor, include_tombstones=True)
                total += len(page)
                count += 1
                if not cursor:
                    break
            pages.append((time.perf_counter() - start) * 1000)
            assert total == n
        median, p99 = _quantiles(pages)
        _line(f"get_entries, all {count} pages of 256: median / p99 ms", f"{median:.1f} / {p99:.1f}")
        start = time.perf_counter()
        assert len(store.live_records(resource.id, NOW)) == n
        _line("live_records, first call (decodes every entry) ms", f"{(time.perf_counter() - start) * 1000:.1f}")
        decoded: list[float] = []
        for _ in range(runs):
            start = time.perf_counter()
            store.live_records(resource.id, NOW)
            decoded.append((time.perf_counter() - start) * 1000)
        median, p99 = _quantiles(decoded)
        _line("live_records, decode cache warm: median / p99 ms", f"{median:.1f} / {p99:.1f}")
        digests: list[float] = []
        for _ in range(runs):
            start = time.perf_counter()
            store.digest(resource.id, NOW)
            digests.append((time.perf_counter() - start) * 1000)
        median, p99 = _quantiles(digests)
        _line("digest: median / p99 ms", f"{median:.1f} / {p99:.1f}")


def _timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return _quantiles(samples)


def bench_merge(owner: PrivateKey, keys: list[PrivateKey], runs: int) -> None:
    print("resolve-side merge of 20 answers x 256 records, each answer decoded separately (20 replicas)")
    resource = make_resource(owner, "merge-bench", NOW)
    raws = [r.encode() for r in _records(keys, resource, 256, "m")]
    answers_raw = [list(raws) for _ in range(20)]
    answers: list[list[Entry]] = [[decode_entry(raw, DEFAULT_LIMITS) for raw in answer] for answer in answers_raw]
    verifier = make_verifier()
    for entry in answers[0]:
        validate_entry(entry, NOW, DEFAULT_LIMITS, verifier, resource.id)

    def naive() -> None:
        for answer in answers:
            for entry in answer:
                validate_entry(entry, NOW, DEFAULT_LIMITS, verifier, resource.id)
        merge(*answers)

    def merge_only() -> None:
        merge(*answers)

    def dedup_by_bytes() -> None:
        # Replicas that agree send identical bytes: validate and merge each distinct entry once.
        distinct: dict[bytes, Entry] = {}
        for answer, answer_raw in zip(answers, answers_raw, strict=True):
            for entry, raw in zip(answer, answer_raw, strict=True):
                distinct.setdefault(raw, entry)
        for entry in distinct.values():
            validate_entry(entry, NOW, DEFAULT_LIMITS, verifier, resource.id)
        merge(distinct.values())

    decoded: dict[bytes, Entry] = {}

    def from_bytes_with_decode_cache() -> None:
        seen: set[bytes] = set()
        entries: list[Entry] = []
        for answer_raw in answers_raw:
            for raw in answer_raw:
                if raw in seen:
                    continue
                seen.add(raw)
                entry = decoded.get(raw)
                if entry is None:
                    entry = decoded[raw] = decode_entry(raw, DEFAULT_LIMITS)
                validate_entry(entry, NOW, DEFAULT_LIMITS, verifier, resource.id)
                entries.append(entry)
        merge(entries)

    from_bytes_with_decode_cache()
    median, p99 = _timed(naive, runs)
    _line("validate all 5,120 + core merge: median / p99 ms", f"{median:.1f} / {p99:.1f}", "target < 20 ms")
    naive_median = median
    median, p99 = _timed(merge_only, runs)
    _line("  of which core merge alone: median / p99 ms", f"{median:.1f} / {p99:.1f}")
    median, p99 = _timed(dedup_by_bytes, runs)
    _line(
        "dedup identical bytes, validate + merge distinct: median / p99 ms",
        f"{median:.1f} / {p99:.1f}",
        f"target < 20 ms: {_verdict(median < 20)} (naive: {_verdict(naive_median < 20)})",
    )
    median, p99 = _timed(from_bytes_with_decode_cache, runs)
    _line("from raw bytes, dedup + decode cache + validate + merge: ms", f"{median:.1f} / {p99:.1f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m registry_p2p.tools.bench_store", description=__doc__)
    parser.add_argument("--records", type=int, default=10_000, help="records in the read benchmark's resource")
    parser.add_argument("--batches", type=int, default=50, help="batches of 100 in the write benchmark")
    parser.add_argument("--runs", type=int, default=30, help="repetitions for medians and p99")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the database files (default: a temp dir)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the write path")
    args = parser.parse_args(argv)

    owner, *keys = _keys(101)
    print("preparing signed test data (not timed)...")
    verify_records = _records(keys, make_resource(owner, "verify-bench", NOW), 2000, "v")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp_name:
        tmp = Path(tmp_name)
        bench_verify(verify_records)
        bench_writes(tmp, owner, keys, args.batches)
        bench_reads(tmp, owner, keys, args.records, args.runs)
        bench_merge(owner, keys, args.runs)
        if args.profile:
            profile_writes(tmp, owner, keys, args.batches)


def profile_writes(tmp: Path, owner: PrivateKey, keys: list[PrivateKey], n_batches: int) -> None:
    batches = []
    for b in range(n_batches):
        resource = make_resource(owner, f"profile-{b}", NOW)
        batches.append((resource, [r.encode() for r in _records(keys, resource, BATCH, f"p{b}")]))
    profiler = cProfile.Profile()
    profiler.enable()
    _write_all(tmp / "profile.db", batches, "NORMAL", False)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    print(out.getvalue())


if __name__ == "__main__":
    main()
