"""What a run prints: a figure summary, a sweep table, and PNG plots (matplotlib, optional)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from registry_p2p.sim.sim import Params, Report, run


def summary_lines(report: Report) -> list[str]:
    p = report.params
    s = report.summary
    lk = report.lookups
    lines = [
        f"{p['protocol']}: {p['nodes']} nodes, {p['records']} records, {p['hours']:g} h, k={p['k']}, "
        f"replicate {p['replicate_interval_s']:g} s, churn {p['churn']}, sybil {p['sybil_fraction']:g}, "
        f"loss {p['loss']:g}, ack {p['ack']}, seed {p['seed']}",
        f"wall {report.wall_s:.1f} s, {report.events} events, mean online {s['mean_online']}, "
        f"nodes created {s['nodes_created']}",
        f"resolvable (of records still live somewhere): min {s['min_resolvable']:.4f}, most live records "
        f"unresolvable at once {s['max_unresolvable_records']:g}, at 36 h {s['unresolvable_at_36h']:g}; "
        f"expired with their host gone at 48 h {s['expired_at_48h']:g}",
        f"holders among the K closest (p50): {s['holders_in_k_p50_at_3h']:g} at 3 h, "
        f"{s['holders_in_k_p50_at_24h']:g} at 24 h; first holders still online with it (p50): "
        f"{s['originals_online_p50_at_3h']:g} at 3 h, {s['originals_online_p50_at_24h']:g} at 24 h",
        f"lookups ({lk['sampled']:g} sampled): hops p50 {lk['hops_p50']:g} p90 {lk['hops_p90']:g}, "
        f"latency p50 {lk['latency_p50_s']:.2f} s p90 {lk['latency_p90_s']:.2f} s, "
        f"{lk['queries_mean']:g} queries, replica set = oracle set {lk['replica_set_agreement']:.3f}, "
        f"sampled resolves found it {lk['sampled_resolve_success']:.4f}",
        "per record per hour: "
        + ", ".join(
            f"{kind} {msgs:g} msg / {report.bytes_per_record_hour[kind] / 1024:.1f} KiB"
            for kind, msgs in report.messages_per_record_hour.items()
        ),
    ]
    part = report.partition
    if part:
        lines.append(
            "partition: records updated while split that a replica still held stale at the heal "
            f"{part.get('divergent_at_heal')}, converged 99% after {_minutes(part.get('converged_99_s'))}, "
            f"all after {_minutes(part.get('converged_s'))}"
        )
    return lines


def _minutes(seconds: Any) -> str:
    return "not within 4 intervals" if seconds is None else f"{seconds / 60:.0f} min"


def sweep(
    base: Params, ks: Iterable[int], intervals: Iterable[float], progress: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """One run per (K, replicate interval); the figures that choose the defaults."""
    rows: list[dict[str, Any]] = []
    for k in ks:
        for interval in intervals:
            report = run(replace(base, k=k, replicate_interval_s=interval))
            s = report.summary
            row = {
                "k": k,
                "replicate_interval_s": interval,
                "min_resolvable": s["min_resolvable"],
                "max_unresolvable_records": s["max_unresolvable_records"],
                "holders_in_k_p50_at_24h": s["holders_in_k_p50_at_24h"],
                "msgs_per_record_hour": report.messages_per_record_hour["total"],
                "kib_per_record_hour": round(report.bytes_per_record_hour["total"] / 1024, 1),
                "converged_s": report.partition.get("converged_s"),
                "wall_s": report.wall_s,
            }
            rows.append(row)
            if progress is not None:
                progress(str(row))
    return rows


def sweep_table(rows: list[dict[str, Any]]) -> list[str]:
    head = (
        "| K | replicate | min resolvable | most unresolvable | holders in K at 24 h (p50) "
        "| msgs/record/h | KiB/record/h | partition converged |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['k']} | {r['replicate_interval_s'] / 60:g} min | {r['min_resolvable']:.4f} | "
            f"{r['max_unresolvable_records']:g} | {r['holders_in_k_p50_at_24h']:g} | {r['msgs_per_record_hour']:g} | "
            f"{r['kib_per_record_hour']:g} | {_minutes(r['converged_s'])} |"
        )
    return lines


def plot(reports: dict[str, Report], directory: Path, prefix: str = "sim") -> list[Path]:
    """PNG plots of one or more runs (labelled), under `directory`. Needs the `[plot]` extra."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("plots need matplotlib: pip install 'registry-p2p[plot]'") from exc
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    for label, rep in reports.items():
        t = [x["t_h"] for x in rep.timeline]
        top.plot(
            t,
            [x.get("resolvable_live", x["resolvable"]) for x in rep.timeline],
            label=f"{label}: of records live somewhere",
        )
        top.plot(t, [x["resolvable"] for x in rep.timeline], ":", label=f"{label}: of all written")
        bottom.plot(t, [x["holders_in_k_p50"] for x in rep.timeline], label=f"{label}: holders in K closest (p50)")
        bottom.plot(t, [x["originals_online_p50"] for x in rep.timeline], "--", label=f"{label}: first holders online")
    top.set_ylabel("fraction of records resolvable")
    top.legend(fontsize=8)
    bottom.set_ylabel("holders (of K)")
    bottom.set_xlabel("hours after the writes")
    bottom.legend(fontsize=7)
    path = directory / f"{prefix}-liveness.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for label, rep in reports.items():
        if rep.hops:
            left.hist(rep.hops, bins=range(1, max(rep.hops) + 2), alpha=0.5, label=label, density=True)
        kinds = [k for k in rep.bytes_per_record_hour if k != "total"]
        right.barh([f"{label}: {k}" for k in kinds], [rep.bytes_per_record_hour[k] / 1024 for k in kinds])
    left.set_xlabel("lookup hops to the closest peer")
    left.legend(fontsize=8)
    right.set_xlabel("KiB per record per hour")
    fig.tight_layout()
    path = directory / f"{prefix}-cost.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    parted = {label: rep for label, rep in reports.items() if rep.partition.get("divergent_over_time")}
    if parted:
        fig, ax = plt.subplots(figsize=(7, 4))
        for label, rep in parted.items():
            series = rep.partition["divergent_over_time"]
            ax.plot([m for m, _ in series], [n for _, n in series], label=label)
        ax.set_xlabel("minutes after the partition healed")
        ax.set_ylabel("records still stale on a replica")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = directory / f"{prefix}-partition.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
