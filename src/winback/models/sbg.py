"""The shifted-beta-geometric (sBG) model of contractual retention (Fader & Hardie 2007,
"How to project customer retention", Journal of Interactive Marketing 21(1)).

Each customer renews at the end of every period with probability 1 − θ, θ ~ beta(alpha,
beta) across customers. Fitted on one cohort's survivor counts, it projects the retention
curve and each customer's expected remaining lifetime.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from scipy.special import betaln

from winback.errors import ModelError
from winback.models._special import hyp2f1_one
from winback.models.base import FloatArray, MaximumLikelihoodModel, as_float_array


class ShiftedBetaGeometricModel(MaximumLikelihoodModel):
    """sBG: heterogeneous, constant-per-customer churn probability in discrete periods.

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the log-parameters (see ``MaximumLikelihoodModel``).
    """

    param_names = ("alpha", "beta")

    def fit(self, survivors: Any, initial_params: Any = None) -> Self:
        """Fit on a cohort's survivor counts.

        Parameters
        ----------
        survivors : array-like
            Customers still active at the start of periods 0, 1, 2, ...; the first entry is
            the cohort size and counts must not increase.
        """
        counts = as_float_array(survivors, "survivors")
        if len(counts) < 2 or np.any(np.diff(counts) > 0) or counts[-1] < 0:
            raise ModelError("survivors needs a non-increasing series of at least 2 counts")
        periods = np.arange(1, len(counts), dtype=np.float64)
        # One row per churn period, plus the survivors still active at the end (censored).
        t = np.concatenate([periods, [periods[-1]]])
        censored = np.concatenate([np.zeros(len(periods)), [1.0]])
        weights = np.concatenate([counts[:-1] - counts[1:], [counts[-1]]])
        self._fit_data((t, censored), weights, initial_params)
        return self

    def fit_contracts(self, periods: Any, churned: Any, initial_params: Any = None) -> Self:
        """Fit on individual contracts of any cohorts, each observed for its own time.

        Parameters
        ----------
        periods : array-like
            For a contract that churned, the period in which it churned (1 = did not renew
            after the first period); for one still active, the periods it has completed.
        churned : array-like of bool
            Whether the contract ended; active ones count as censored.
        """
        t = as_float_array(periods, "periods")
        ended = np.asarray(churned, dtype=bool)
        if t.shape != ended.shape:
            raise ModelError("periods and churned must have the same length")
        if np.any(t[ended] < 1) or np.any(t < 0):
            raise ModelError("a churned contract churns in period 1 or later; periods >= 0")
        if not ended.any():
            raise ModelError("no contract has ended: churn cannot be estimated yet")
        rows, weights = np.unique(
            np.stack([t, (~ended).astype(np.float64)]), axis=1, return_counts=True
        )
        self._fit_data((rows[0], rows[1]), weights.astype(np.float64), initial_params)
        return self

    def _log_likelihood_rows(self, params: FloatArray, data: tuple[FloatArray, ...]) -> FloatArray:
        alpha, beta = params
        t, censored = data
        churned = betaln(alpha + 1, beta + t - 1) - betaln(alpha, beta)
        still = betaln(alpha, beta + t) - betaln(alpha, beta)
        return np.asarray(np.where(censored > 0, still, churned), dtype=np.float64)

    def _identified(self, params: FloatArray) -> str:
        alpha, beta = params
        return (
            f"alpha/(alpha+beta) = {alpha / (alpha + beta):.4g} (churn probability, same for all)"
        )

    def survival(self, t: Any) -> FloatArray:
        """S(t): share of the cohort still active after t periods."""
        alpha, beta = self._require_fitted()
        tt = np.asarray(t, dtype=np.float64)
        return np.asarray(np.exp(betaln(alpha, beta + tt) - betaln(alpha, beta)))

    def retention_rate(self, t: Any) -> FloatArray:
        """r(t) = S(t)/S(t−1) = (β+t−1)/(α+β+t−1), for t >= 1."""
        alpha, beta = self._require_fitted()
        tt = np.asarray(t, dtype=np.float64)
        return np.asarray((beta + tt - 1) / (alpha + beta + tt - 1), dtype=np.float64)

    def expected_remaining_lifetime(self, renewals: Any) -> FloatArray:
        """Expected further renewals of a customer who has renewed ``renewals`` times:
        (β+n)/(α−1) with n = renewals; infinite when α <= 1."""
        alpha, beta = self._require_fitted()
        n = np.asarray(renewals, dtype=np.float64)
        if alpha <= 1:
            return np.full(n.shape, np.inf)
        return np.asarray((beta + n) / (alpha - 1), dtype=np.float64)

    def discounted_expected_residual_lifetime(
        self, renewals: Any, discount_rate: float
    ) -> FloatArray:
        """DERL (Fader & Hardie 2010, "Customer-base valuation in a contractual setting"):
        the expected discounted number of further payments of a customer who has renewed
        ``renewals`` times and now faces the next renewal decision,

            (β+n)/(α+β+n) · 2F1(1, β+n+1; α+β+n+1; 1/(1+d)),   n = renewals.
        """
        alpha, beta = self._require_fitted()
        if discount_rate <= 0:
            raise ModelError("discount_rate must be > 0 (use expected_remaining_lifetime)")
        n = np.asarray(renewals, dtype=np.float64)
        z = 1.0 / (1.0 + discount_rate)
        series = hyp2f1_one(beta + n + 1, alpha + beta + n + 1, np.full(np.shape(n), z))
        return np.asarray((beta + n) / (alpha + beta + n) * series, dtype=np.float64)


def sample_sbg_survivors(
    cohort: int, periods: int, alpha: float, beta: float, rng: np.random.Generator
) -> FloatArray:
    """Simulate a cohort's survivor counts at the start of periods 0 .. ``periods``."""
    theta = rng.beta(alpha, beta, cohort)
    lifetimes = rng.geometric(np.clip(theta, 1e-300, 1.0))  # periods until churn
    return np.array([np.sum(lifetimes > t) for t in range(periods + 1)], dtype=np.float64)
