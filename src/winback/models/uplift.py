"""Who is persuadable: an uplift model learned from past campaigns' members.

A past campaign with a random holdout shows, for customers like each member, how often
they came back with the offer and how often without it. The difference is the *uplift*:
what contacting the customer adds. Ranking the next audience by uplift times what a
return is worth spends the offers where they change the outcome, not on customers who
come back anyway or never will.

Two ways to learn it, both from scikit-learn's histogram gradient boosting:

* ``"two_model"`` (the T-learner): one classifier of returning on the treated, one on the
  holdout; the uplift is the difference of their probabilities.
* ``"transformed_outcome"`` (class transformation, Athey & Imbens 2015): the outcome times
  ``t/p - (1-t)/(1-p)`` (``p`` the treated share) has the uplift as its expectation, so
  one regression of it estimates the uplift directly.

:func:`qini_curve` and :func:`qini_coefficient` grade a ranking on a campaign with a
holdout (Radcliffe 2007).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from winback.errors import InvalidInput, NotFittedError

Method = Literal["two_model", "transformed_outcome"]
METHODS: tuple[Method, ...] = ("two_model", "transformed_outcome")
#: Fewest members a group (treated or holdout) needs for a model to be learned from it.
MIN_GROUP = 30


class UpliftModel:
    """Learns from past campaigns how much an offer raises each customer's chance of return.

    Parameters
    ----------
    method
        ``"two_model"`` or ``"transformed_outcome"``.
    max_iter, learning_rate, min_samples_leaf
        The gradient boosting's settings; small leaves overfit the small holdouts.
    random_state
        Seed of the boosting's early-stopping split.

    Attributes
    ----------
    columns_
        The feature columns learned from, in order.
    treated_share_
        Share of treated members in the training data.
    """

    def __init__(
        self,
        method: Method = "two_model",
        *,
        max_iter: int = 150,
        learning_rate: float = 0.05,
        min_samples_leaf: int = 40,
        random_state: int = 0,
    ) -> None:
        self.method = method
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    def _booster(self, regression: bool) -> HistGradientBoostingClassifier:
        settings = {
            "max_iter": self.max_iter,
            "learning_rate": self.learning_rate,
            "min_samples_leaf": self.min_samples_leaf,
            "max_depth": 4,
            "l2_regularization": 1.0,
            "categorical_features": "from_dtype",
            "random_state": self.random_state,
        }
        if regression:
            return HistGradientBoostingRegressor(**settings)
        return HistGradientBoostingClassifier(**settings)

    def fit(self, features: pd.DataFrame, treated: np.ndarray, outcome: np.ndarray) -> UpliftModel:
        """Learn from past members: their features, whether treated, whether they came back.

        Raises
        ------
        InvalidInput
            For a method unknown, lengths that disagree, an outcome not 0/1, or a group
            (treated or holdout) smaller than :data:`MIN_GROUP`.
        """
        if self.method not in METHODS:
            raise InvalidInput(f"uplift method must be one of {METHODS}, not {self.method!r}")
        x = _frame(features)
        t = np.asarray(treated, dtype=bool)
        y = np.asarray(outcome)
        if t.shape != (len(x),) or y.shape != (len(x),):
            raise InvalidInput("features, treated and outcome need one row per member")
        if not np.isin(y, (0, 1)).all():
            raise InvalidInput("outcome must be 0/1 (came back or not)")
        y = y.astype(float)
        for name, count in (("treated", int(t.sum())), ("holdout", int((~t).sum()))):
            if count < MIN_GROUP:
                raise InvalidInput(
                    f"the {name} group has {count} members; an uplift model needs at least "
                    f"{MIN_GROUP} in each (run a campaign with a larger holdout first)"
                )
        self.columns_ = list(x.columns)
        self.categories_ = {
            c: x[c].cat.categories for c in x.columns if isinstance(x[c].dtype, pd.CategoricalDtype)
        }
        self.treated_share_ = float(t.mean())
        with threadpool_limits(1):
            if self.method == "two_model":
                self.treated_model_ = self._booster(False).fit(x[t], y[t])
                self.holdout_model_ = self._booster(False).fit(x[~t], y[~t])
            else:
                p = self.treated_share_
                target = y * np.where(t, 1 / p, -1 / (1 - p))
                self.transformed_model_ = self._booster(True).fit(x, target)
        return self

    def predict_uplift(self, features: pd.DataFrame) -> np.ndarray:
        """Each customer's expected rise in the chance of coming back if contacted."""
        if not hasattr(self, "columns_"):
            raise NotFittedError("fit the uplift model on past campaigns before predicting")
        x = _frame(features)
        missing = [c for c in self.columns_ if c not in x.columns]
        if missing:
            raise InvalidInput(f"features lack the columns the model learned from: {missing}")
        x = x[self.columns_].copy()
        # The same codes as in training: a category never seen there counts as missing.
        for c, categories in self.categories_.items():
            values = x[c].astype(object)
            x[c] = pd.Categorical(values.where(values.isin(categories), None), categories)
        with threadpool_limits(1):
            if self.method == "two_model":
                treated = self.treated_model_.predict_proba(x)[:, 1]
                holdout = self.holdout_model_.predict_proba(x)[:, 1]
                uplift: np.ndarray = treated - holdout
            else:
                uplift = np.clip(self.transformed_model_.predict(x), -1, 1)
        return uplift

    def rank(self, features: pd.DataFrame, value: np.ndarray | None = None) -> np.ndarray:
        """Row positions of ``features``, most expected incremental value first.

        ``value`` is what each customer's return is worth (e.g. a year's margin); without
        it the ranking is by uplift alone.
        """
        uplift = self.predict_uplift(features)
        worth = uplift if value is None else uplift * np.asarray(value, dtype=float)
        ranking: np.ndarray = np.argsort(-worth, kind="stable")
        return ranking


def _frame(features: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(features, pd.DataFrame):
        raise InvalidInput("features must be a table (a pandas DataFrame) of named columns")
    # Text columns become categories, which the boosting splits on as such.
    text = [
        c
        for c in features.columns
        if not isinstance(features[c].dtype, pd.CategoricalDtype)
        and not pd.api.types.is_numeric_dtype(features[c])
        and not pd.api.types.is_bool_dtype(features[c])
    ]
    return features.astype(dict.fromkeys(text, "category"))


def qini_curve(score: np.ndarray, treated: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """Incremental returns when targeting the top k members by ``score``, for every k.

    ``Q(k) = R_t(k) - R_h(k) · N_t(k) / N_h(k)``: the treated returns among the top k,
    less the holdout's returns scaled to the treated count. Element 0 is Q(0) = 0.
    """
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    t = np.asarray(treated, dtype=bool)[order]
    y = np.asarray(outcome, dtype=float)[order]
    n_t = np.cumsum(t)
    n_h = np.cumsum(~t)
    r_t = np.cumsum(y * t)
    r_h = np.cumsum(y * ~t)
    scaled = np.divide(r_h * n_t, n_h, out=np.zeros(len(y)), where=n_h > 0)
    curve: np.ndarray = np.concatenate([[0.0], r_t - scaled])
    return curve


def qini_coefficient(score: np.ndarray, treated: np.ndarray, outcome: np.ndarray) -> float:
    """Area between the Qini curve and the straight line of random targeting, per member.

    Positive when the ranking puts the persuadable first; 0 for a random ranking on
    average. Compare rankings on the same campaign only: the scale is its own.
    """
    curve = qini_curve(score, treated, outcome)
    n = curve.size - 1
    if n == 0:
        return 0.0
    random = curve[-1] * np.arange(n + 1) / n
    gap = curve - random
    return float((gap[1:] + gap[:-1]).sum() / 2 / n / n)
