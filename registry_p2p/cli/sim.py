"""`registry-p2p sim`: the discrete-event simulator (registry_p2p.sim), loaded when the verb runs."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import click

from registry_p2p.cli.app import cli, json_option
from registry_p2p.cli.output import emit_json


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


@cli.command()
@click.option(
    "--protocol",
    type=click.Choice(["registry", "kad"]),
    default="registry",
    show_default=True,
    help="registry: ours (core's defaults); kad: Kademlia-like provider records (publish + republish).",
)
@click.option("--nodes", type=int, default=10_000, show_default=True, help="Mean number of nodes online.")
@click.option("--hours", type=float, default=48.0, show_default=True, help="Simulated hours after the writes begin.")
@click.option(
    "--records", type=int, default=10_000, show_default=True, help="Records written (each in its own resource)."
)
@click.option("--k", "k", type=int, default=None, help="Replica-set size (default: limits.replica_set_size).")
@click.option("--replicate-interval", type=float, default=None, help="Seconds between anti-entropy rounds.")
@click.option("--kad-republish", type=float, default=24.0, show_default=True, help="kad: republish every N hours.")
@click.option("--churn", type=click.Choice(["rfm2", "weibull", "pareto"]), default="rfm2", show_default=True)
@click.option("--weibull", "weibull", default="3,0.6", show_default=True, help="Weibull scale (h),shape.")
@click.option("--pareto", "pareto", default="0.5,1.2", show_default=True, help="Pareto minimum (h),alpha.")
@click.option("--return-prob", type=float, default=0.85, show_default=True, help="A leaving node comes back.")
@click.option("--lose-store", type=float, default=0.1, show_default=True, help="A departure loses the store.")
@click.option(
    "--sybil",
    type=float,
    default=0.0,
    show_default=True,
    help="Fraction of Sybil nodes (drop writes, answer resolves with nothing).",
)
@click.option("--loss", type=float, default=0.01, show_default=True, help="Per-message loss.")
@click.option("--latency-ms", type=float, default=40.0, show_default=True, help="Median one-way latency.")
@click.option("--partition-at", type=float, default=None, help="Split the network at hour N.")
@click.option("--partition-hours", type=float, default=2.0, show_default=True)
@click.option("--ack", type=int, default=1, show_default=True, help="Replicas a resolve needs.")
@click.option("--lookups-per-hour", type=int, default=60, show_default=True, help="Sampled full lookups.")
@click.option("--sample-every", type=float, default=1800.0, show_default=True, help="Seconds between samples.")
@click.option("--warmup", type=float, default=12.0, show_default=True, help="Hours of churn before the writes.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--plot",
    "plot_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write PNG plots here (needs the [plot] extra).",
)
@click.option("--plot-prefix", default="sim", show_default=True)
@click.option("--sweep-k", default=None, help="Sweep: comma-separated K values (with --sweep-interval).")
@click.option("--sweep-interval", default=None, help="Sweep: comma-separated replicate intervals (s).")
@click.option("--compare-engines", is_flag=True, help="Time the event loop against simpy and exit.")
@click.option("--progress/--quiet", default=False, help="One line per simulated hour on stderr.")
@json_option
def sim(**opts: Any) -> None:
    """Simulate the registry at internet scale: churn, loss, partitions, Sybils; print the figures."""
    from registry_p2p.sim import Params, run
    from registry_p2p.sim.output import plot, summary_lines, sweep, sweep_table

    if opts["compare_engines"]:
        from registry_p2p.sim.engine import compare_engines

        result = compare_engines(nodes=opts["nodes"])
        if opts["as_json"]:
            emit_json(result)
        else:
            click.echo(
                f"{result['nodes']:g} nodes: heap {result['heap_s_per_million']:.2f} s per million events, "
                f"simpy {result['simpy_s_per_million']:.2f} s (simpy/heap {result['simpy_over_heap']:.2f})"
            )
        return
    weibull_scale, weibull_shape = _floats(opts["weibull"])
    pareto_min, pareto_alpha = _floats(opts["pareto"])
    params = Params(
        protocol=opts["protocol"],
        nodes=opts["nodes"],
        hours=opts["hours"],
        records=opts["records"],
        kad_republish_s=opts["kad_republish"] * 3600,
        churn=opts["churn"],
        weibull_scale_h=weibull_scale,
        weibull_shape=weibull_shape,
        pareto_min_h=pareto_min,
        pareto_alpha=pareto_alpha,
        return_prob=opts["return_prob"],
        lose_store_prob=opts["lose_store"],
        sybil_fraction=opts["sybil"],
        loss=opts["loss"],
        latency_median_ms=opts["latency_ms"],
        partition_at_h=opts["partition_at"],
        partition_h=opts["partition_hours"],
        ack=opts["ack"],
        lookups_per_hour=opts["lookups_per_hour"],
        sample_every_s=opts["sample_every"],
        warmup_h=opts["warmup"],
        seed=opts["seed"],
    )
    if opts["k"] is not None:
        params = replace(params, k=opts["k"])
    if opts["replicate_interval"] is not None:
        params = replace(params, replicate_interval_s=opts["replicate_interval"])
    try:
        params.check()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc

    def progress(line: str) -> None:
        if opts["progress"]:
            click.echo(line, err=True)

    if opts["sweep_k"] or opts["sweep_interval"]:
        ks = [int(x) for x in _floats(opts["sweep_k"] or str(params.k))]
        intervals = _floats(opts["sweep_interval"] or str(params.replicate_interval_s))
        rows = sweep(params, ks, intervals, progress)
        if opts["as_json"]:
            emit_json({"params": asdict(params), "rows": rows})
        else:
            for line in sweep_table(rows):
                click.echo(line)
        return
    report = run(params, progress)
    if opts["plot_dir"] is not None:
        for path in plot({params.protocol: report}, opts["plot_dir"], opts["plot_prefix"]):
            progress(f"wrote {path}")
    if opts["as_json"]:
        emit_json(report.to_json())
    else:
        for line in summary_lines(report):
            click.echo(line)
