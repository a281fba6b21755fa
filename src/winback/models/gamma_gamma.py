"""The gamma-gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV:
using iso-value curves for customer base analysis"; Fader & Hardie, "The gamma-gamma model
of monetary value", 2013).

A customer's transaction values are gamma(p, ν) with ν ~ gamma(q, γ) across customers, so
their mean spend is pγ/(q−1) on average, and a customer's observed mean is shrunk towards
that by how many transactions it rests on. Parameters: p, q, gamma.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from scipy.special import digamma, gammaln

from winback.errors import ModelError
from winback.models.base import FloatArray, MaximumLikelihoodModel, as_float_array


def _spend_arrays(frequency: Any, monetary_value: Any) -> tuple[FloatArray, FloatArray]:
    x = as_float_array(frequency, "frequency")
    m = as_float_array(monetary_value, "monetary_value")
    x, m = np.broadcast_arrays(x, m)
    if np.any(x < 0) or np.any(m < 0):
        raise ModelError("frequency and monetary_value must be >= 0")
    return x, m


class GammaGammaModel(MaximumLikelihoodModel):
    """Gamma-gamma spend model, fitted on customers with at least one repeat purchase.

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the log-parameters (see ``MaximumLikelihoodModel``).
    """

    param_names = ("p", "q", "gamma")

    def fit(
        self,
        frequency: Any,
        monetary_value: Any,
        weights: Any = None,
        initial_params: Any = None,
    ) -> Self:
        """Fit on repeat purchases x and the mean value of those purchases.

        Customers with x = 0 carry no information on spend per repeat purchase and are left
        out; so are those with a mean value of 0, which a gamma cannot produce.
        """
        x, m = _spend_arrays(frequency, monetary_value)
        keep = (x > 0) & (m > 0)
        w = None if weights is None else as_float_array(weights, "weights")[keep]
        if not keep.any():
            raise ModelError("no customer has a repeat purchase with a positive value")
        self._fit_data((x[keep], m[keep]), w, initial_params)
        return self

    def _log_likelihood_rows(self, params: FloatArray, data: tuple[FloatArray, ...]) -> FloatArray:
        p, q, gamma = params
        x, m = data
        # Density of the mean of x gamma(p, ν) values, integrated over ν ~ gamma(q, γ).
        out = (
            gammaln(p * x + q)
            - gammaln(p * x)
            - gammaln(q)
            + q * np.log(gamma)
            + (p * x - 1) * np.log(m)
            + p * x * np.log(x)
            - (p * x + q) * np.log(gamma + m * x)
        )
        return np.asarray(out, dtype=np.float64)

    def _gradient_rows(self, params: FloatArray, data: tuple[FloatArray, ...]) -> FloatArray:
        p, q, gamma = params
        x, m = data
        shared = digamma(p * x + q)
        log_total = np.log(gamma + m * x)
        g_p = x * (shared - digamma(p * x) + np.log(m) + np.log(x) - log_total)
        g_q = shared - digamma(q) + np.log(gamma) - log_total
        g_gamma = q / gamma - (p * x + q) / (gamma + m * x)
        return np.column_stack([g_p, g_q, g_gamma])

    def _identified(self, params: FloatArray) -> str:
        p, q, gamma = params
        return f"the mean spend per transaction pγ/(q−1) = {p * gamma / (q - 1):.4g}"

    def conditional_expected_average_value(self, frequency: Any, monetary_value: Any) -> FloatArray:
        """E[spend per transaction | x, mean value]: the observed mean shrunk to the
        population mean pγ/(q−1), weighted by how many repeat purchases it rests on."""
        p, q, gamma = self._require_fitted()
        if q <= 1:
            raise ModelError(f"expected spend is infinite when q <= 1 (q = {q:.4g})")
        x, m = _spend_arrays(frequency, monetary_value)
        return np.asarray((p * gamma + p * x * m) / (p * x + q - 1), dtype=np.float64)

    def expected_average_value(self) -> float:
        """Population mean spend per transaction, pγ/(q−1)."""
        p, q, gamma = self._require_fitted()
        return float(p * gamma / (q - 1)) if q > 1 else float("inf")


def sample_gamma_gamma(
    frequency: Any, p: float, q: float, gamma: float, rng: np.random.Generator
) -> FloatArray:
    """Simulate each customer's mean transaction value over ``frequency`` transactions."""
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(q, 1.0 / gamma, x.size)
    # The mean of x gamma(p, ν) draws is gamma(px, xν).
    return np.asarray(rng.gamma(p * x, 1.0 / (nu * x)), dtype=np.float64)
