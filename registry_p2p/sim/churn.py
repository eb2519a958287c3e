"""Session-length models: how long a node stays online, and how long it stays away.

`rfm2` (the default) is a log-normal fitted to probe-lab's RFM2 figures for new DHT servers:
half leave within 2 h (median 2 h) and 80% within 8 h (P(X < 8 h) = 0.8 gives sigma = ln 4 /
0.8416 = 1.647). `weibull` and `pareto` are OverSim's LifetimeChurn and ParetoChurn shapes.

A simulation starts stationary: a node online at the start is part-way through its session, so
what is left of it is drawn from the renewal process's equilibrium residual life (density
S(x) / E[X]), not from the session model itself. Drawn fresh, every node would start a new
session at once, and with RFM2's heavy tail (mean 7.8 h against a 2 h median) the population
would keep too few long-lived nodes for days: P(outlives 24 h) is 0.07 for a fresh session and
0.35 for the residual one. The residual is U x L, with L drawn length-biased (density
x f(x) / E[X]) and U uniform on [0, 1): for a log-normal L is log-normal with mu + sigma^2, for a
Weibull (scale l, shape k) L = l G^(1/k) with G ~ Gamma(1 + 1/k), for a Pareto (min m, alpha)
L is Pareto(m, alpha - 1).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

HOUR = 3600.0
RFM2_MEDIAN_S = 2 * HOUR
RFM2_SIGMA = math.log(4) / 0.8416  # P(session < 8 h) = 0.8 with a 2 h median


@dataclass(frozen=True, slots=True)
class SessionModel:
    kind: str = "rfm2"  # rfm2 | weibull | pareto
    # weibull: scale (s) and shape; pareto: minimum (s) and alpha
    scale_s: float = 3 * HOUR
    shape: float = 0.6
    pareto_min_s: float = 0.5 * HOUR
    pareto_alpha: float = 1.2

    def draw(self, rng: random.Random) -> float:
        if self.kind == "rfm2":
            return rng.lognormvariate(math.log(RFM2_MEDIAN_S), RFM2_SIGMA)
        if self.kind == "weibull":
            return rng.weibullvariate(self.scale_s, self.shape)
        if self.kind == "pareto":
            return self.pareto_min_s * rng.paretovariate(self.pareto_alpha)
        raise ValueError(f"unknown churn model {self.kind!r}")

    def draw_residual(self, rng: random.Random) -> float:
        """What is left of the session of a node found online at a random instant."""
        return rng.random() * self._draw_length_biased(rng)

    def _draw_length_biased(self, rng: random.Random) -> float:
        if self.kind == "rfm2":
            return _length_biased_lognormal(rng, RFM2_MEDIAN_S, RFM2_SIGMA)
        if self.kind == "weibull":
            return float(self.scale_s * rng.gammavariate(1 + 1 / self.shape, 1.0) ** (1 / self.shape))
        if self.kind == "pareto":
            if self.pareto_alpha <= 1:
                # No finite mean session: the population never becomes stationary.
                raise ValueError("a Pareto churn model needs alpha > 1")
            return self.pareto_min_s * rng.paretovariate(self.pareto_alpha - 1)
        raise ValueError(f"unknown churn model {self.kind!r}")

    def describe(self) -> str:
        if self.kind == "rfm2":
            return "log-normal, median 2 h, 80% < 8 h (RFM2)"
        if self.kind == "weibull":
            return f"Weibull scale {self.scale_s / HOUR:g} h, shape {self.shape:g}"
        return f"Pareto min {self.pareto_min_s / HOUR:g} h, alpha {self.pareto_alpha:g}"


@dataclass(frozen=True, slots=True)
class Downtime:
    """How long a node that will come back stays away (log-normal)."""

    median_s: float = 1 * HOUR
    sigma: float = 1.5

    def draw(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median_s), self.sigma)

    def draw_residual(self, rng: random.Random) -> float:
        """What is left of the absence of a node found offline at a random instant (see above)."""
        return rng.random() * _length_biased_lognormal(rng, self.median_s, self.sigma)


def _length_biased_lognormal(rng: random.Random, median_s: float, sigma: float) -> float:
    """A log-normal (median, sigma) drawn length-biased: the log-normal with mu + sigma^2."""
    return rng.lognormvariate(math.log(median_s) + sigma**2, sigma)
