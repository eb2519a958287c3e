"""Session-length models: how long a node stays online, and how long it stays away.

`rfm2` (the default) is a log-normal fitted to probe-lab's RFM2 figures for new DHT servers:
half leave within 2 h (median 2 h) and 80% within 8 h (P(X < 8 h) = 0.8 gives sigma = ln 4 /
0.8416 = 1.647). `weibull` and `pareto` are OverSim's LifetimeChurn and ParetoChurn shapes.
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
