"""The maximum-likelihood base every customer-base model shares.

A model is its parameter names plus one per-row log-likelihood. This base does the rest:
compressing identical rows into weights, optimising on the log scale of the (positive)
parameters, standard errors from the Hessian of the negative log-likelihood, the summary
table, AIC/BIC, the optional L2 penalty on the log-parameters, and the warning for a
degenerate fit.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, stats

from winback.errors import ConvergenceError, DegenerateFitWarning, ModelError, NotFittedError

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
# Model data as the optimiser passes it: the columns, plus whatever ``_prepare`` adds.
Data = tuple[Any, ...]
# A remembered evaluation's point: the log-parameters' bytes, the data's and weights' ids.
EvaluationKey = tuple[bytes, int, int]
# What is remembered of it: the mean objective, its gradient, Σ w·ll, and the Hessian when
# it was computed analytically (else None).
Evaluation = tuple[float, FloatArray, float, FloatArray | None]

# Parameters live in [e^-LOG_BOUND, e^LOG_BOUND]; a fit that reaches a bound has run off
# along a ridge rather than found an interior optimum.
LOG_BOUND = 18.0
# A parameter beyond e^±RUNAWAY is reported as degenerate even if the optimiser stopped
# short of the bound: past it, the likelihood is flat to machine precision in practice.
RUNAWAY = 13.0
# A standard error of a log-parameter above this leaves the parameter undetermined to
# within a factor of e^6 ≈ 400 at one standard error.
MAX_LOG_SE = 3.0
# A fit on more distinct rows than this starts from a fit to a sample of
# WARM_START_CUSTOMERS customers (see ``MaximumLikelihoodModel._warm_started``), stopping
# when the mean objective's log-scale gradient is below WARM_START_GTOL everywhere.
WARM_START_ROWS = 20_000
WARM_START_CUSTOMERS = 20_000
WARM_START_ITERATIONS = 40
WARM_START_GTOL = 1e-9
# A fit on at most WARM_START_ROWS distinct rows starts with quasi-Newton steps from the
# Hessian at its starting point (see ``MaximumLikelihoodModel._newton_started``), at most
# QUICK_START_ITERATIONS of them; eigenvalues of that Hessian below QUICK_START_EIGEN_FLOOR
# times the largest (in absolute value) are raised to it.
QUICK_START_ITERATIONS = 100
QUICK_START_EIGEN_FLOOR = 1e-3
# A model with an analytic Hessian starts with Newton steps in a trust region instead
# (``MaximumLikelihoodModel._newton``), first of this radius on the log scale.
NEWTON_START_RADIUS = 1.0
# Evaluations of the objective and its gradient remembered during a fit: enough to cover a
# Hessian's differences and the point they were taken around.
REMEMBERED_EVALUATIONS = 8


def as_float_array(values: Any, name: str) -> FloatArray:
    """Return ``values`` as a 1-d float64 array, refusing NaN and infinity."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ModelError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ModelError(f"{name} contains NaN or infinite values")
    return arr


def compress_rows(
    columns: tuple[FloatArray, ...], weights: FloatArray | None
) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Collapse identical rows of ``columns`` into one row each, weights summed.

    Real transaction summaries repeat the same (x, t_x, T) many times (every one-off buyer
    of a cohort shares a row), so the likelihood is evaluated once per distinct row.
    """
    unique, inverse = factorize(*columns)
    w = np.ones(len(inverse)) if weights is None else weights
    summed = np.bincount(inverse, weights=w, minlength=len(unique[0])).astype(np.float64)
    return unique, summed


def factorize(*columns: FloatArray) -> tuple[tuple[FloatArray, ...], IndexArray]:
    """Distinct rows of ``columns`` and, per original row, the index of its distinct row.

    Terms that depend on the parameters and on only some columns (gammaln(r + x), say) are
    then computed once per distinct value and gathered, instead of once per row.
    """
    # Hash-based, column by column (linear time, unlike sorting rows with np.unique);
    # the combined code is re-factorized after each column so it never overflows.
    codes: IndexArray = np.zeros(len(columns[0]), dtype=np.intp)
    span = 1
    for i, col in enumerate(columns):
        col_codes, uniques = pd.factorize(col)
        codes = codes * len(uniques) + col_codes
        span *= len(uniques)
        if len(columns) == 1:
            # One column's codes are already 0, 1, ... in order of first appearance.
            codes = np.asarray(col_codes, dtype=np.intp)
        elif span > 2**40 or i == len(columns) - 1:
            codes = np.asarray(pd.factorize(codes)[0], dtype=np.intp)
            span = int(codes.max()) + 1 if len(codes) else 1
    first = np.full(int(codes.max()) + 1 if len(codes) else 0, -1, dtype=np.intp)
    # The last write wins; any representative of a group will do.
    first[codes] = np.arange(len(codes), dtype=np.intp)
    cols = tuple(np.ascontiguousarray(col[first]) for col in columns)
    return cols, codes


def _positive_definite(hess: FloatArray) -> FloatArray | None:
    """``hess`` with its eigenvalues replaced by their absolute values, raised to at least
    QUICK_START_EIGEN_FLOOR times the largest: a Newton step with it goes downhill even
    where the objective is not convex. None if ``hess`` is not finite or is zero."""
    if not np.all(np.isfinite(hess)):
        return None
    eig, vectors = np.linalg.eigh(hess)
    floor = QUICK_START_EIGEN_FLOOR * float(np.max(np.abs(eig)))
    if floor <= 0:
        return None
    return np.asarray((vectors * np.maximum(np.abs(eig), floor)) @ vectors.T, dtype=np.float64)


def _trust_region_step(grad: FloatArray, hess: FloatArray, radius: float) -> FloatArray | None:
    """The step p minimising grad·p + pᵀ hess p / 2 over |p| <= radius (None if the
    Hessian is not finite).

    The Newton step if it is downhill and within the radius; else (hess + λ)⁻¹ grad with
    the λ >= 0 that puts it on the boundary (Moré and Sorensen's Newton iteration on
    1/|p(λ)|; with few parameters, in the Hessian's eigenbasis).
    """
    if not (np.all(np.isfinite(hess)) and np.all(np.isfinite(grad))):
        return None
    eig, vectors = np.linalg.eigh(hess)
    coef = vectors.T @ grad
    if eig[0] > 0:
        step = -vectors @ (coef / eig)
        if float(step @ step) <= radius * radius:
            return np.asarray(step, dtype=np.float64)
    scale = max(float(np.max(np.abs(eig))), 1e-300)
    # |p(λ)| falls from infinity at λ = −eig[0] (or from |Newton step| at 0) to 0.
    lowest = max(0.0, -float(eig[0])) + 1e-12 * scale
    shift = lowest
    for _ in range(50):
        denom = eig + shift
        length = float(np.sqrt(np.sum((coef / denom) ** 2)))
        if length < radius and shift == lowest:
            # The hard case: grad has (almost) nothing along the lowest eigenvector, and
            # no shift reaches the boundary; go along that eigenvector to it.
            step = -vectors @ (coef / denom)
            extra = np.sqrt(max(radius * radius - length * length, 0.0))
            return np.asarray(step + extra * vectors[:, 0], dtype=np.float64)
        if abs(length - radius) <= 1e-3 * radius:
            break
        slope = float(np.sum(coef**2 / denom**3)) / length**3
        shift = max(shift + (1.0 / radius - 1.0 / length) / slope, lowest)
    return np.asarray(-vectors @ (coef / (eig + shift)), dtype=np.float64)


def _converged(
    x: FloatArray, value: float, iterations: int, evaluations: int, message: str
) -> optimize.OptimizeResult:
    """The result of one of the fit's own iterations, converged, as scipy would give it."""
    return optimize.OptimizeResult(
        x=x, fun=value, success=True, nit=iterations, nfev=evaluations, message=message
    )


def _stop_past_runaway(intermediate_result: optimize.OptimizeResult) -> None:
    """An L-BFGS-B callback: stop once an iterate has a log-parameter past ±RUNAWAY."""
    if np.any(np.abs(intermediate_result.x) > RUNAWAY):
        raise StopIteration


class MaximumLikelihoodModel:
    """Base for a model fitted by maximum likelihood over positive parameters.

    Subclasses set ``param_names`` and implement ``_log_likelihood_rows``; they may
    implement ``_gradient_rows`` (analytic gradient, natural scale) for speed,
    ``_weighted_sums_and_hessian`` (analytic Hessian too: the fit then takes Newton
    steps) and ``_identified`` (what a degenerate fit still identifies).

    Parameters
    ----------
    penalizer : float, default 0
        Strength of an L2 penalty on the log-parameters, added to the mean negative
        log-likelihood per customer. It shrinks parameters towards 1 and keeps a fit on a
        flat ridge finite.
    max_iterations : int, default 2000
        Iteration cap for the optimiser.
    stop_on_runaway : bool, default False
        Stop the optimiser as soon as a parameter passes e^±RUNAWAY, where the fit would
        be reported as degenerate whatever it did next (it almost always runs on to the
        bounds, slowly, along the ridge): the fit then ends with the same
        ``DegenerateFitWarning``, at a fraction of the cost. For fits that are thrown
        away when degenerate (the scan's comparison of models on a holdout).
    """

    param_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, penalizer: float = 0.0, max_iterations: int = 2000, stop_on_runaway: bool = False
    ) -> None:
        self.penalizer = penalizer
        self.max_iterations = max_iterations
        self.stop_on_runaway = stop_on_runaway

    # -- what a subclass provides -------------------------------------------------------

    def _log_likelihood_rows(self, params: FloatArray, data: Data) -> FloatArray:
        raise NotImplementedError

    def _gradient_rows(self, params: FloatArray, data: Data) -> FloatArray | None:
        """Per-row gradient of the log-likelihood (rows × params), or None if not known."""
        return None

    def _value_and_gradient_rows(
        self, params: FloatArray, data: Data
    ) -> tuple[FloatArray, FloatArray | None]:
        """Both at once; a model with an analytic gradient overrides this to share work."""
        return self._log_likelihood_rows(params, data), self._gradient_rows(params, data)

    def _weighted_sums_and_hessian(
        self, params: FloatArray, data: Data, weights: FloatArray
    ) -> tuple[float, FloatArray, FloatArray]:
        """Σ w·ll, Σ w·∇ll and Σ w·∇²ll (natural scale), for a model with an analytic
        Hessian; the fit then takes Newton steps with it instead of differencing."""
        raise NotImplementedError

    def _has_hessian(self) -> bool:
        return (
            type(self)._weighted_sums_and_hessian
            is not MaximumLikelihoodModel._weighted_sums_and_hessian
        )

    def _has_gradient(self) -> bool:
        cls = type(self)
        return (
            cls._gradient_rows is not MaximumLikelihoodModel._gradient_rows
            or cls._value_and_gradient_rows is not MaximumLikelihoodModel._value_and_gradient_rows
        )

    def _identified(self, params: FloatArray) -> str:
        """Describe the parameter combination a degenerate fit still identifies."""
        return "no single combination (inspect the likelihood surface)"

    def _prepare(self, data: tuple[Any, ...]) -> tuple[Any, ...]:
        """Precompute what does not depend on the parameters (called once per fit)."""
        return data

    def _initial(self, data: Data, weights: FloatArray) -> FloatArray:
        return np.ones(len(self.param_names))

    # -- fitted state ----------------------------------------------------------------------

    def _named(self) -> dict[str, float]:
        """Fitted parameters by name (raises NotFittedError before fitting)."""
        values = self._require_fitted()
        return {n: float(v) for n, v in zip(self.param_names, values, strict=True)}

    def _require_fitted(self) -> FloatArray:
        params: FloatArray | None = getattr(self, "_theta", None)
        if params is None:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(...) before predicting"
            )
        return params

    # -- fitting ---------------------------------------------------------------------------

    def _objective(self, log_params: FloatArray, data: Data, weights: FloatArray) -> float:
        total = self._remembered_total(log_params, data, weights)
        if total is not None:
            return float(-total / float(weights.sum()) + self.penalizer * log_params @ log_params)
        params = np.exp(log_params)
        with np.errstate(all="ignore"):
            ll = self._log_likelihood_rows(params, data)
        total = float(weights @ ll) / float(weights.sum())
        if not np.isfinite(total):
            # Outside the region where the likelihood is representable: steer away.
            return 1e300
        return -total + self.penalizer * float(log_params @ log_params)

    def _objective_gradient(
        self, log_params: FloatArray, data: Data, weights: FloatArray
    ) -> FloatArray:
        return self._objective_and_gradient(log_params, data, weights)[1]

    def _weighted_sums(
        self, params: FloatArray, data: Data, weights: FloatArray
    ) -> tuple[float, FloatArray | None]:
        """Σ w·ll and Σ w·∇ll (natural scale). A model may override this to sum over
        groups of rows rather than row by row."""
        ll, rows = self._value_and_gradient_rows(params, data)
        grad = None if rows is None else np.asarray(weights @ rows, dtype=np.float64)
        return float(weights @ ll), grad

    def _objective_and_gradient(
        self, log_params: FloatArray, data: Data, weights: FloatArray
    ) -> tuple[float, FloatArray]:
        if not self._has_gradient():
            value = self._objective(log_params, data, weights)
            return value, self._numeric_gradient(log_params, data, weights)
        # The optimiser, the polishing and the final checks often ask for the same point
        # again: the last few evaluations are remembered (per data and weights) — the
        # final check asks for the point the Hessian was differenced around, several
        # evaluations back.
        key = (log_params.tobytes(), id(data), id(weights))
        evaluations = self._evaluations()
        known = evaluations.get(key)
        if known is not None:
            return known[0], known[1].copy()
        return self._evaluate(log_params, data, weights, hessian=False)[:2]

    def _objective_gradient_hessian(
        self, log_params: FloatArray, data: Data, weights: FloatArray
    ) -> tuple[float, FloatArray, FloatArray]:
        """The mean objective, its gradient and its Hessian on the log scale, from the
        model's analytic Hessian (remembered like ``_objective_and_gradient``)."""
        key = (log_params.tobytes(), id(data), id(weights))
        known = self._evaluations().get(key)
        if known is not None and known[3] is not None:
            return known[0], known[1].copy(), known[3].copy()
        value, grad, hess = self._evaluate(log_params, data, weights, hessian=True)
        assert hess is not None
        return value, grad, hess

    def _evaluate(
        self, log_params: FloatArray, data: Data, weights: FloatArray, hessian: bool
    ) -> tuple[float, FloatArray, FloatArray | None]:
        """Evaluate and remember the mean objective, its log-scale gradient and, if asked
        (analytic only), its log-scale Hessian."""
        key = (log_params.tobytes(), id(data), id(weights))
        evaluations = self._evaluations()
        params = np.exp(log_params)
        grad_sum: FloatArray | None
        hess_sum: FloatArray | None = None
        with np.errstate(all="ignore"):
            if hessian:
                total, grad_sum, hess_sum = self._weighted_sums_and_hessian(params, data, weights)
            else:
                total, grad_sum = self._weighted_sums(params, data, weights)
        n = float(weights.sum())
        if not np.isfinite(total) or grad_sum is None:
            # (The identity: a finite Hessian for a point Newton never accepts.)
            return 1e300, np.zeros_like(log_params), np.eye(len(log_params))
        value = -total / n + self.penalizer * float(log_params @ log_params)
        # Chain rule to the log scale: d/dlog θ = θ d/dθ.
        grad = -grad_sum * params / n + 2.0 * self.penalizer * log_params
        if not np.all(np.isfinite(grad)):
            grad = self._numeric_gradient(log_params, data, weights)
        grad = np.asarray(grad, dtype=np.float64)
        hess = None
        if hess_sum is not None:
            # And d²/dlog θ_i dlog θ_j = θ_i θ_j d²/dθ_i dθ_j + [i = j] θ_i d/dθ_i.
            hess = -(hess_sum * np.outer(params, params) + np.diag(grad_sum * params)) / n
            hess += 2.0 * self.penalizer * np.eye(len(log_params))
            if np.all(np.isfinite(hess)):
                hess = np.asarray((hess + hess.T) / 2.0, dtype=np.float64)
            else:
                hess = self._numeric_hessian(log_params, data, weights, exact=False)
        evaluations[key] = (value, grad.copy(), total, None if hess is None else hess.copy())
        while len(evaluations) > REMEMBERED_EVALUATIONS:
            del evaluations[next(iter(evaluations))]
        return value, grad, hess

    def _evaluations(self) -> dict[EvaluationKey, Evaluation]:
        """The remembered evaluations, oldest first (emptied at the start of every fit)."""
        found: dict[EvaluationKey, Evaluation] | None = getattr(self, "_remembered", None)
        if found is None:
            found = {}
            self._remembered = found
        return found

    def _remembered_total(self, log_params: FloatArray, data: Data, weights: FloatArray) -> Any:
        """Σ w·ll at ``log_params`` if it is among the points remembered, else None."""
        known = self._evaluations().get((log_params.tobytes(), id(data), id(weights)))
        return None if known is None else known[2]

    def _numeric_gradient(
        self, log_params: FloatArray, data: Data, weights: FloatArray
    ) -> FloatArray:
        h = 1e-6
        grad = np.empty_like(log_params)
        for i in range(len(log_params)):
            step = np.zeros_like(log_params)
            step[i] = h
            up = self._objective(log_params + step, data, weights)
            down = self._objective(log_params - step, data, weights)
            grad[i] = (up - down) / (2 * h)
        return grad

    def _numeric_hessian(
        self,
        log_params: FloatArray,
        data: Data,
        weights: FloatArray,
        gradient: FloatArray | None = None,
        exact: bool = True,
    ) -> FloatArray:
        """Hessian of the mean objective on the log scale: the model's analytic one if it
        has one (and ``exact``), else by differences.

        With an analytic gradient, differences of the gradient (2k evaluations, or k
        forward differences from ``gradient``, the gradient at ``log_params``, when given:
        accurate to about 1e-6 relative, plenty for standard errors and Newton steps);
        otherwise second differences of the objective itself, which costs fewer
        evaluations than differencing a numeric gradient.
        """
        if exact and self._has_hessian():
            return self._objective_gradient_hessian(log_params, data, weights)[2]
        k = len(log_params)
        hess = np.empty((k, k))
        if self._has_gradient() and gradient is not None:
            h = 1e-6
            for i in range(k):
                step = np.zeros(k)
                step[i] = h
                up = self._objective_gradient(log_params + step, data, weights)
                hess[i] = (up - gradient) / h
            return np.asarray((hess + hess.T) / 2.0, dtype=np.float64)
        if self._has_gradient():
            h = 1e-5
            for i in range(k):
                step = np.zeros(k)
                step[i] = h
                up = self._objective_gradient(log_params + step, data, weights)
                down = self._objective_gradient(log_params - step, data, weights)
                hess[i] = (up - down) / (2 * h)
            return np.asarray((hess + hess.T) / 2.0, dtype=np.float64)
        h = 1e-4
        centre = self._objective(log_params, data, weights)

        def f(i: int, si: float, j: int, sj: float) -> float:
            step = np.zeros(k)
            step[i] += si * h
            step[j] += sj * h
            return self._objective(log_params + step, data, weights)

        for i in range(k):
            hess[i, i] = (f(i, 1, i, 1) - 2 * centre + f(i, -1, i, -1)) / (4 * h * h)
            for j in range(i):
                hess[i, j] = hess[j, i] = (
                    f(i, 1, j, 1) - f(i, 1, j, -1) - f(i, -1, j, 1) + f(i, -1, j, -1)
                ) / (4 * h * h)
        return hess

    def _fit_data(
        self,
        data: Data,
        weights: FloatArray | None,
        initial_params: Any = None,
    ) -> None:
        """Fit on ``data`` (columns of equal length) and set every fitted attribute."""
        if weights is not None:
            weights = as_float_array(weights, "weights")
            if len(weights) != len(data[0]) or np.any(weights < 0):
                raise ModelError("weights must be non-negative, one per row")
        self._evaluations().clear()
        data, w = compress_rows(data, weights)
        keep = w > 0
        data, w = tuple(col[keep] for col in data), w[keep]
        if len(w) == 0:
            raise ModelError("cannot fit on no customers")
        k = len(self.param_names)
        columns, data = data, self._prepare(data)
        if initial_params is None:
            start = np.log(self._initial(data, w))
        else:
            start = np.log(as_float_array(initial_params, "initial_params"))
            if len(start) != k:
                raise ModelError(f"initial_params needs {k} values: {self.param_names}")
        result = None
        if initial_params is None and len(w) > WARM_START_ROWS and self._has_gradient():
            result = self._warm_started(columns, data, w)
        # How the fit got there, for tests and benchmarks: the warm start's message or None.
        self._warm = None if result is None else str(result.message)
        if result is None and len(w) <= WARM_START_ROWS and self._has_gradient():
            result = self._newton_started(start, data, w)
        # Likewise the quick start's message, or None when L-BFGS-B did the work.
        self._quick = None if result is None or self._warm else str(result.message)
        if result is None:
            result = self._minimize(start, data, w)
        log_params = np.asarray(result.x, dtype=np.float64)
        if not np.all(np.isfinite(log_params)) or result.fun >= 1e299:
            raise ConvergenceError(
                f"{type(self).__name__} did not converge ({result.message}); try other "
                "initial_params or a small penalizer, e.g. penalizer=0.01"
            )
        hess_mean = None
        if not (self.stop_on_runaway and np.any(np.abs(log_params) > RUNAWAY)):
            # (A fit stopped on its way to the bounds is degenerate: nothing to polish.)
            log_params, hess_mean = self._polish(log_params, data, w)
        n = float(w.sum())
        if hess_mean is None:
            hess_mean = self._numeric_hessian(log_params, data, w)
        hess_log = hess_mean * n
        params = np.exp(log_params)
        self._theta = params
        index = pd.Index(self.param_names, name="parameter")
        self.params_ = pd.Series(params, index=index, name="coef")
        # The final gradient check evaluates here anyway; the total comes with it.
        grad = self._objective_gradient(log_params, data, w)
        total = self._remembered_total(log_params, data, w)
        if total is None:
            with np.errstate(all="ignore"):
                total = w @ self._log_likelihood_rows(params, data)
        self.log_likelihood_ = float(total)
        self.n_observations_ = n
        self.aic_ = 2 * k - 2 * self.log_likelihood_
        self.bic_ = k * np.log(n) - 2 * self.log_likelihood_
        # Standard errors and the summary table are built when first read (pandas costs
        # a fit on a thousand rows a tenth of its time); the Hessian is kept for them.
        self._hess_log = hess_log
        self._reported: dict[str, Any] = {}
        degenerate = self._warn_if_degenerate(log_params, hess_log)
        if not degenerate and not result.success and np.max(np.abs(grad)) > 1e-6:
            # Stopped early, not on a ridge and not at a stationary point: the numbers
            # would look like an answer without being one.
            raise ConvergenceError(
                f"{type(self).__name__} stopped before converging after {result.nit} "
                f"iterations ({result.message}); raise max_iterations (now "
                f"{self.max_iterations}), give initial_params, or add a small penalizer"
            )

    def _minimize(self, start: FloatArray, data: Data, weights: FloatArray) -> Any:
        """L-BFGS-B from ``start`` within the log-parameter bounds (stopped at the first
        iterate past e^±RUNAWAY with ``stop_on_runaway``)."""
        return optimize.minimize(
            self._objective_and_gradient,
            start,
            args=(data, weights),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND, LOG_BOUND)] * len(start),
            options={"maxiter": self.max_iterations, "ftol": 1e-15, "gtol": 1e-10},
            callback=_stop_past_runaway if self.stop_on_runaway else None,
        )

    def _warm_started(self, columns: Data, data: Data, weights: FloatArray) -> Any:
        """Minimise from the fit to a random sample of the customers, or None.

        The sample (``WARM_START_CUSTOMERS`` customers drawn with replacement, seeded, so
        fits are reproducible) is fitted as usual; its optimum and Hessian then start a
        quasi-Newton iteration on all the rows, which needs a handful of evaluations
        instead of the dozens L-BFGS-B takes from scratch to learn the curvature. The
        answer is the full data's stationary point either way (the stopping rule is on
        the full gradient); None, and the caller's usual L-BFGS-B, when the sample's fit
        is not interior or the iteration stalls. A model with an analytic Hessian fits
        the sample by trust-region Newton (L-BFGS-B if that fails) and continues on all
        the rows by Newton too: from the sample's optimum, three or four steps.
        """
        rng = np.random.default_rng(0)
        counts = rng.multinomial(WARM_START_CUSTOMERS, weights / weights.sum())
        chosen = counts > 0
        sample_data = self._prepare(tuple(col[chosen] for col in columns))
        sample_w = counts[chosen].astype(np.float64)
        start = np.log(self._initial(sample_data, sample_w))
        exact = self._has_hessian()
        sample = (
            self._newton(start, sample_data, sample_w, QUICK_START_ITERATIONS) if exact else None
        )
        if sample is None:
            sample = self._minimize(start, sample_data, sample_w)
        current = np.asarray(sample.x, dtype=np.float64)
        if not sample.success or np.any(np.abs(current) > RUNAWAY):
            return None
        if exact:
            done = "warm start converged"
            return self._newton(current, data, weights, WARM_START_ITERATIONS, done)
        hess = self._numeric_hessian(current, sample_data, sample_w)
        if not np.all(np.isfinite(hess)) or np.any(np.linalg.eigvalsh(hess) <= 0):
            return None
        return self._quasi_newton(
            current, hess, data, weights, WARM_START_ITERATIONS, "warm start converged"
        )

    def _newton_started(self, start: FloatArray, data: Data, weights: FloatArray) -> Any:
        """Minimise from ``start`` by quasi-Newton steps from the Hessian there, or None.

        For fits on few rows, where an evaluation is cheap and scipy's L-BFGS-B costs as
        much again in its own bookkeeping per evaluation and needs about twenty of them
        to learn the curvature: the forward-difference Hessian at the start (made
        positive definite, eigenvalues by absolute value) gives the curvature at once.
        The answer is the same stationary point (the stopping rule is on the gradient);
        None, and the caller's usual L-BFGS-B, when the iteration stalls or heads for
        the bounds. A model with an analytic Hessian takes Newton steps with the Hessian
        at every iterate first (one evaluation per step, converging quadratically), and
        the quasi-Newton steps only if Newton gives way.
        """
        iterations = min(QUICK_START_ITERATIONS, self.max_iterations)
        if self._has_hessian():
            found = self._newton(start, data, weights, iterations)
            if found is not None:
                return found
            # Newton gave way (it leapt onto a ridge towards the bounds): the quasi-Newton
            # start below may still find an interior optimum that L-BFGS-B from ``start``
            # would run past (a review found fits ending lower, on the bounds, without it).
        _value, grad = self._objective_and_gradient(start, data, weights)
        hess = _positive_definite(self._numeric_hessian(start, data, weights, grad))
        if hess is None:
            return None
        return self._quasi_newton(start, hess, data, weights, iterations, "quasi-Newton converged")

    def _quasi_newton(
        self,
        current: FloatArray,
        hess: FloatArray,
        data: Data,
        weights: FloatArray,
        iterations: int,
        done: str,
    ) -> Any:
        """BFGS from ``current`` and a positive definite ``hess`` until the mean
        objective's log-scale gradient is below WARM_START_GTOL everywhere (an
        OptimizeResult with message ``done``), or None if it stalls, takes more than
        ``iterations`` steps or passes e^±RUNAWAY."""
        value, grad = self._objective_and_gradient(current, data, weights)
        evaluations = 1
        for iteration in range(iterations):
            if np.max(np.abs(grad)) < WARM_START_GTOL:
                return _converged(current, value, iteration, evaluations, done)
            step = -np.linalg.solve(hess, grad)
            # Backtrack until the objective decreases (a full step almost always does), or
            # the gradient is small enough to stop: near the optimum the objective changes
            # by less than its rounding, and a step to a converged point can look uphill.
            for _ in range(20):
                candidate = np.clip(current + step, -LOG_BOUND, LOG_BOUND)
                new_value, new_grad = self._objective_and_gradient(candidate, data, weights)
                evaluations += 1
                if new_value <= value or np.max(np.abs(new_grad)) < WARM_START_GTOL:
                    break
                step = step / 2
            else:
                return None
            # BFGS update of the Hessian, kept positive definite by the curvature condition.
            step = candidate - current
            change = new_grad - grad
            curvature = float(change @ step)
            if curvature > 1e-300:
                hs = hess @ step
                hess = hess + np.outer(change, change) / curvature - np.outer(hs, hs) / (step @ hs)
            current, value, grad = candidate, new_value, new_grad
            if np.any(np.abs(current) > RUNAWAY):
                # None with ``stop_on_runaway`` too: no verdict. A step from a rough start
                # Hessian can leap past e^RUNAWAY over an interior optimum (small BG/NBD
                # and MBG/NBD fits; tests/models/test_small_fits.py), which L-BFGS-B from
                # scratch finds, its callback stopping it only on a real run to the bounds.
                return None
        return None

    def _newton(
        self,
        current: FloatArray,
        data: Data,
        weights: FloatArray,
        iterations: int,
        done: str = "Newton converged",
    ) -> Any:
        """Trust-region Newton with the model's analytic Hessian, from ``current`` until
        the mean objective's log-scale gradient is below WARM_START_GTOL everywhere (an
        OptimizeResult with message ``done``), or None if it stalls, takes more than
        ``iterations`` steps (rejected ones included) or passes e^±RUNAWAY.

        Each step minimises the quadratic model within a radius on the log scale; the
        radius doubles after a step the model predicted well and shrinks after a poor one
        (the usual rules, Nocedal and Wright, algorithm 4.1). Where the likelihood is
        nearly flat along a ridge, its curvature there (a millionth of the largest, say)
        is the Hessian's own, not a guess to be learnt, so the steps along it are full.
        """
        value, grad, hess = self._objective_gradient_hessian(current, data, weights)
        radius = NEWTON_START_RADIUS
        evaluations = 1
        for iteration in range(iterations):
            if np.max(np.abs(grad)) < WARM_START_GTOL:
                return _converged(current, value, iteration, evaluations, done)
            step = _trust_region_step(grad, hess, radius)
            if step is None:
                return None
            candidate = np.clip(current + step, -LOG_BOUND, LOG_BOUND)
            step = candidate - current
            predicted = float(grad @ step + 0.5 * step @ hess @ step)
            new_value, new_grad, new_hess = self._objective_gradient_hessian(
                candidate, data, weights
            )
            evaluations += 1
            length = float(np.sqrt(step @ step))
            ratio = (new_value - value) / predicted if predicted < 0 else 0.0
            if ratio < 0.25:
                radius = 0.25 * length
            elif ratio > 0.75 and length >= 0.99 * radius:
                radius = 2.0 * radius
            # Accepted if downhill, or if the gradient there is small enough to stop (near
            # the optimum the objective changes by less than its rounding); never where the
            # likelihood is not representable (1e300, with a zero gradient).
            if new_value < 1e299 and (
                new_value <= value or np.max(np.abs(new_grad)) < WARM_START_GTOL
            ):
                current, value, grad, hess = candidate, new_value, new_grad, new_hess
                if np.any(np.abs(current) > RUNAWAY):
                    return None  # as in ``_quasi_newton``: no verdict, L-BFGS-B decides
            elif radius < 1e-12:
                return None
        return None

    def _polish(
        self, log_params: FloatArray, data: Data, weights: FloatArray
    ) -> tuple[FloatArray, FloatArray | None]:
        """A few Newton steps from the quasi-Newton answer, for digits L-BFGS-B leaves.

        Returns the point and, when it was computed there, the Hessian at it.
        """
        current = log_params
        value = self._objective(current, data, weights)
        for _ in range(3):
            grad = self._objective_gradient(current, data, weights)
            hess = self._numeric_hessian(current, data, weights, grad)
            if np.max(np.abs(grad)) < 1e-9:
                return current, hess
            try:
                step = np.linalg.solve(hess, grad)
            except np.linalg.LinAlgError:
                return current, hess
            if not np.all(np.isfinite(step)) or np.any(np.linalg.eigvalsh(hess) <= 0):
                return current, hess
            candidate = np.clip(current - step, -LOG_BOUND, LOG_BOUND)
            new_value = self._objective(candidate, data, weights)
            if not new_value <= value:
                return current, hess
            current, value = candidate, new_value
            if np.max(np.abs(step)) < 1e-7:
                # Newton converges quadratically: the next step would be ~1e-14, and the
                # Hessian a step this small away is the Hessian here for standard errors.
                return current, hess
        return current, None

    @property
    def standard_errors_(self) -> pd.Series:
        """Standard errors of the parameters, from the Hessian at the optimum (set by
        ``fit``; computed when first read)."""
        reported = self._fitted_report()
        if "se" not in reported:
            se = self._standard_errors(self._hess_log, self._require_fitted())
            index = pd.Index(self.param_names, name="parameter")
            reported["se"] = pd.Series(se, index=index, name="se(coef)")
        found: pd.Series = reported["se"]
        return found

    @property
    def summary_(self) -> pd.DataFrame:
        """Parameters, standard errors and 95% bounds (set by ``fit``; computed when first
        read)."""
        reported = self._fitted_report()
        if "summary" not in reported:
            se = self.standard_errors_.to_numpy()
            reported["summary"] = self._summary_table(self._require_fitted(), se)
        table: pd.DataFrame = reported["summary"]
        return table

    def _fitted_report(self) -> dict[str, Any]:
        """The standard errors and summary built so far; AttributeError before ``fit``,
        as for every fitted attribute."""
        reported: dict[str, Any] | None = self.__dict__.get("_reported")
        if reported is None:
            raise AttributeError(f"{type(self).__name__} is not fitted yet")
        return reported

    @staticmethod
    def _standard_errors(hess_log: FloatArray, params: FloatArray) -> FloatArray:
        # Delta method: with θ = exp(φ), Cov(θ) = J Cov(φ) J, J = diag(θ).
        try:
            cov_log = np.linalg.inv(hess_log)
        except np.linalg.LinAlgError:
            return np.full(len(params), np.nan)
        cov = cov_log * np.outer(params, params)
        diag = np.diag(cov)
        return np.asarray(np.where(diag > 0, np.sqrt(np.abs(diag)), np.nan), dtype=np.float64)

    def _summary_table(self, params: FloatArray, se: FloatArray) -> pd.DataFrame:
        z = float(stats.norm.ppf(0.975))
        return pd.DataFrame(
            {
                "coef": params,
                "se(coef)": se,
                "lower 95% bound": params - z * se,
                "upper 95% bound": params + z * se,
            },
            index=pd.Index(self.param_names, name="parameter"),
        )

    def _warn_if_degenerate(self, log_params: FloatArray, hess_log: FloatArray) -> bool:
        # Three signs of a ridge: a parameter at an extreme, a Hessian that is not positive
        # definite, or a log-scale standard error so large that the parameter is
        # undetermined to within orders of magnitude.
        runaway = np.abs(log_params) > RUNAWAY
        eig = np.linalg.eigvalsh(hess_log)
        not_definite = bool(eig.min() <= 1e-12 * max(abs(eig.max()), 1.0))
        loose = np.zeros_like(runaway)
        if not not_definite:
            loose = np.sqrt(np.abs(np.diag(np.linalg.inv(hess_log)))) > MAX_LOG_SE
        bad = runaway | loose
        if not (bad.any() or not_definite):
            return False
        names = [n for n, r in zip(self.param_names, bad, strict=True) if r]
        where = f"{', '.join(names)} not determined" if names else "flat likelihood"
        warnings.warn(
            f"{type(self).__name__}: degenerate fit ({where}); the individual parameters "
            f"are not identified by these data. Identified: {self._identified(self._theta)}. "
            "A small penalizer keeps the parameters finite.",
            DegenerateFitWarning,
            stacklevel=3,
        )
        return True

    def __repr__(self) -> str:
        params = getattr(self, "_theta", None)
        if params is None:
            return f"<{type(self).__name__}: not fitted>"
        shown = ", ".join(f"{n}={v:.4g}" for n, v in zip(self.param_names, params, strict=True))
        return f"<{type(self).__name__}: {shown}, log-likelihood={self.log_likelihood_:.2f}>"
