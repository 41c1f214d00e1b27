"""Significance for the dashboards: the two-proportion z-test behind the variant
comparison and the hold-out lift.

The test pools both groups for the z statistic (the null hypothesis: one rate) and uses
the unpooled (Wald) standard error for the confidence interval of the difference. It
answers only when both groups have at least ``min_sample`` members: below that the
normal approximation is poor and the page says "not enough data yet".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.95


@dataclass(frozen=True)
class TwoProportions:
    """Group a (``successes_a`` of ``n_a``) against group b."""

    successes_a: int
    n_a: int
    successes_b: int
    n_b: int
    enough: bool
    rate_a: float | None
    rate_b: float | None
    #: rate_a − rate_b and its confidence interval (None when not ``enough``).
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    z: float | None = None
    p_value: float | None = None
    confidence: float = CONFIDENCE

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < 1 - self.confidence


def two_proportions(
    successes_a: int,
    n_a: int,
    successes_b: int,
    n_b: int,
    *,
    min_sample: int,
    confidence: float = CONFIDENCE,
) -> TwoProportions:
    """The two-sided two-proportion z-test of a against b."""
    rate_a = successes_a / n_a if n_a else None
    rate_b = successes_b / n_b if n_b else None
    enough = n_a >= max(min_sample, 1) and n_b >= max(min_sample, 1)
    # More successes than members (conversions counted per event, several per person, or
    # clicks on messages whose receipt is still missing) is not a proportion: no verdict.
    enough = enough and 0 <= successes_a <= n_a and 0 <= successes_b <= n_b
    if not enough or rate_a is None or rate_b is None:
        return TwoProportions(successes_a, n_a, successes_b, n_b, False, rate_a, rate_b)
    difference = rate_a - rate_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se_pooled == 0:  # both rates 0 or both 1: no evidence of a difference
        z, p_value = 0.0, 1.0
    else:
        z = difference / se_pooled
        p_value = math.erfc(abs(z) / math.sqrt(2))
    se = math.sqrt(rate_a * (1 - rate_a) / n_a + rate_b * (1 - rate_b) / n_b)
    margin = NormalDist().inv_cdf(0.5 + confidence / 2) * se
    return TwoProportions(
        successes_a,
        n_a,
        successes_b,
        n_b,
        True,
        rate_a,
        rate_b,
        difference,
        difference - margin,
        difference + margin,
        z,
        p_value,
        confidence,
    )


@dataclass(frozen=True)
class Lift:
    """Treated (sent a message) against the hold-out group (sent none)."""

    test: TwoProportions

    @property
    def treated_rate(self) -> float | None:
        return self.test.rate_a

    @property
    def control_rate(self) -> float | None:
        return self.test.rate_b

    @property
    def relative(self) -> float | None:
        """(treated − control) ÷ control: how much more the message made people convert."""
        t, c = self.test.rate_a, self.test.rate_b
        if t is None or not c:
            return None
        return (t - c) / c


def lift(
    treated_converters: int,
    treated: int,
    control_converters: int,
    control: int,
    *,
    min_sample: int,
) -> Lift:
    return Lift(
        two_proportions(
            treated_converters, treated, control_converters, control, min_sample=min_sample
        )
    )
