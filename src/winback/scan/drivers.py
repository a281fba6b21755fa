"""What drives customers away beyond calls: product lines, staff, channels, incident types.

Graded by what really happened, never by the scan's own rules. At a past cutoff
(``as_of - HORIZON_DAYS``, a year ago, so that its horizon has fully passed), the customers
who bought in the ``EXPOSURE_DAYS`` before it are split by what they met in those days
(``features.exposure_features``): the product lines of their orders, the staff who dealt
with them, the channels they ordered by, the incidents they suffered. A customer *lapsed*
when they had stopped by the end of the horizon: no counted order in its last
``QUIET_DAYS``. (Not "no order at all after the cutoff": a customer who decides to leave
keeps buying, less and less, for a while, so that would miss most of those a problem
drove away.)

The fair baseline for the customers who met something is the customers like them who did
not: the same segment, tenure band and buying band (purchases in the year before the
cutoff). Each stratum's lapse rate among those who did not meet it, applied to those who
did, gives the lapses expected (indirect standardisation); the **ratio** is observed over
expected. Its 95 % interval comes from the delta method on the log ratio (Katz's interval
for a risk ratio, extended to strata): ``var(ln R) = 1/O - 1/n + var(E)/E^2``, with
``var(E) = sum_s n_s^2 p_s (1 - p_s) / m_s`` (``n_s`` who met it and ``m_s`` who did not
in stratum ``s``, ``p_s`` the latter's lapse rate), so both groups' sampling error counts.
**Revenue lost** is the excess: each customer who met it contributes their revenue in the
year before the cutoff times (lapsed - their stratum's baseline rate).

Everything but :func:`find_drivers` is pure: frames in, numbers out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any, cast

import ibis
import numpy as np
import pandas as pd

from winback.scan.features import customer_days, exposure_features
from winback.scan.keys import joined_on_ids, positions

HORIZON_DAYS = 365
QUIET_DAYS = 180
EXPOSURE_DAYS = 90
ACTIVE_DAYS = 365
#: Fewer customers than this met it: too few to say anything.
MIN_EXPOSED = 30
Z = 1.959964  # 95 %
_TENURE_YEARS = (1, 2)
_BUYING_BANDS = (2, 4, 8)
_WHO = {
    "product line": "bought {}",
    "staff": "were served by {}",
    "channel": "ordered by {}",
    "incident": "had a {} incident",
}


@dataclass(frozen=True)
class Driver:
    """One thing customers met, against customers like them who did not meet it."""

    factor: str  # one of features.EXPOSURE_FACTORS
    level: str  # the product line, staff id, channel or incident type
    label: str  # what a person reads: the staff member's name, "quality problem"
    exposed: int  # customers who met it (with a baseline)
    lapsed: int  # of them, how many lapsed in the horizon
    expected: float  # lapses expected from customers like them who did not meet it
    ratio: float
    low: float
    high: float
    revenue_lost: float  # a year's revenue lost beyond the baseline

    @property
    def lapse_rate(self) -> float:
        return self.lapsed / self.exposed

    @property
    def baseline_rate(self) -> float:
        return self.expected / self.exposed

    @property
    def clear(self) -> bool:
        """The whole interval lies above 1: customers who met it really lapse more."""
        return self.low > 1.0

    @property
    def who(self) -> str:
        """What the customers did: "bought Shoes", "were served by Ann Lee"."""
        return _WHO.get(self.factor, "met {}").format(self.label)

    @property
    def sentence(self) -> str:
        """What a manager reads: "customers who bought X lapse 2.1× as often (1.6–2.7)…"."""
        return (
            f"customers who {self.who} lapse {self.ratio:.1f}× as often as customers like them "
            f"({self.low:.1f}–{self.high:.1f}): {self.lapse_rate:.0%} against "
            f"{self.baseline_rate:.0%}, {self.revenue_lost:,.0f} a year lost beyond that"
        )

    def reason(self) -> str:
        """The risk reason for a customer who met it now."""
        return (
            f"{self.who}: customers who did lapsed {self.ratio:.1f}× as often as customers "
            f"like them ({self.low:.1f}–{self.high:.1f}, {self.lapse_rate:.0%} of "
            f"{self.exposed})"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"sentence": self.sentence}


def strata(people: pd.DataFrame, cutoff: date) -> pd.Series:
    """Segment × tenure band × buying band: who counts as "like them"."""
    first = pd.to_datetime(people["first_order_date"])
    years = (pd.Timestamp(cutoff) - first).dt.days / 365.25
    tenure = np.digitize(years.fillna(0).to_numpy(), _TENURE_YEARS)
    buying = np.digitize(people["purchases_year"].fillna(0).to_numpy(), _BUYING_BANDS)
    segment = people["segment"].fillna("all").astype(str)
    return (
        segment
        + "|"
        + pd.Series(tenure, index=people.index).astype(str)
        + "|"
        + (pd.Series(buying, index=people.index).astype(str))
    )


def compare(
    people: pd.DataFrame,
    exposures: pd.DataFrame,
    labels: dict[str, str] | None = None,
    min_exposed: int = MIN_EXPOSED,
) -> list[Driver]:
    """Every (factor, level) met by at least ``min_exposed`` customers, strongest first.

    ``people`` has one row per customer: ``customer_id``, ``stratum``, ``lapsed`` (0/1)
    and ``revenue`` (a year's); ``exposures`` has ``customer_id``, ``factor``, ``level``.
    Those who met it in a stratum where everybody met it have no baseline and are left
    out. Ordered by the interval's lower end, so a strong and sure driver comes first.
    """
    labels = labels or {}
    people = people.reset_index(drop=True)
    stratum_codes, stratum = pd.factorize(people["stratum"])
    k = len(stratum)
    lapsed = people["lapsed"].to_numpy(dtype=float)
    revenue = people["revenue"].to_numpy(dtype=float)
    all_n = np.bincount(stratum_codes, minlength=k).astype(float)
    all_l = np.bincount(stratum_codes, weights=lapsed, minlength=k)
    # Each exposure's customer as a row number and its (factor, level) as one whole number,
    # then the exposures sorted by it: no string-keyed join or group-by over millions of rows.
    at = positions(people["customer_id"], exposures["customer_id"])
    factor_codes, factors = pd.factorize(exposures["factor"])
    level_codes, levels = pd.factorize(exposures["level"])
    keep = (at >= 0) & (factor_codes >= 0) & (level_codes >= 0)
    width = max(len(levels), 1)
    key = factor_codes[keep].astype(np.int64) * width + level_codes[keep]
    order = np.argsort(key, kind="stable")
    key, met_rows = key[order], at[keep][order].astype(np.int64)
    bounds = np.flatnonzero(np.diff(key)) + 1
    found = []
    for part, rows in zip(np.split(key, bounds), np.split(met_rows, bounds), strict=True):
        if not part.size:
            continue
        factor, level = factors[part[0] // width], levels[part[0] % width]
        rows = np.unique(rows)
        if rows.size < min_exposed or rows.size == len(people):
            continue
        codes = stratum_codes[rows]
        n_s = np.bincount(codes, minlength=k).astype(float)
        l_s = np.bincount(codes, weights=lapsed[rows], minlength=k)
        m_s, c_s = all_n - n_s, all_l - l_s
        has_base = m_s[codes] > 0
        rows, codes = rows[has_base], codes[has_base]
        n = rows.size
        if n < min_exposed:
            continue
        n_s = np.bincount(codes, minlength=k).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_s = np.where(m_s > 0, c_s / m_s, 0.0)
            var_e = np.where(m_s > 0, n_s**2 * p_s * (1 - p_s) / m_s, 0.0).sum()
        observed = float(lapsed[rows].sum())
        expected = float(p_s[codes].sum())
        if observed == 0 or expected == 0:
            continue
        lost = float(((lapsed[rows] - p_s[codes]) * revenue[rows]).sum())
        found.append(_driver(str(factor), str(level), labels, n, observed, expected, var_e, lost))
    return sorted(found, key=lambda d: (-d.low, d.factor, d.level))


def _driver(
    factor: str,
    level: str,
    labels: dict[str, str],
    n: int,
    observed: float,
    expected: float,
    var_e: float,
    lost: float,
) -> Driver:
    """One driver from its counts: the ratio and its interval (module docstring)."""
    ratio = observed / expected
    se = math.sqrt(max(1 / observed - 1 / n + var_e / expected**2, 0.0))
    return Driver(
        factor=factor,
        level=level,
        label=labels.get(f"{factor}:{level}", level.replace("_", " ")),
        exposed=n,
        lapsed=int(observed),
        expected=expected,
        ratio=ratio,
        low=ratio * math.exp(-Z * se),
        high=ratio * math.exp(Z * se),
        revenue_lost=lost,
    )


def people_at(
    con: Any, cutoff: date, horizon_days: int, exposure_days: int, days: Any = None
) -> pd.DataFrame:
    """Customers who bought in the ``exposure_days`` up to ``cutoff``, and whether they had
    stopped by the end of the horizon (no counted order in its last ``QUIET_DAYS``).

    Read from ``features.customer_days`` (``days`` when the scan keeps it, else computed
    within the query): a purchase day is a row there, and its money the day's exact sum."""
    joined = _people(con, cutoff, horizon_days, exposure_days, days)
    frame: pd.DataFrame = joined.to_pyarrow().sort_by("customer_id").to_pandas()
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame["revenue"] = frame["revenue"].astype(float)
    frame["lapsed"] = (frame["after"] == 0).astype(int)
    frame["stratum"] = strata(frame, cutoff)
    return frame


def _people(con: Any, cutoff: date, horizon_days: int, exposure_days: int, days: Any = None) -> Any:
    """:func:`people_at` as an Ibis table, before its ``lapsed`` and ``stratum``."""
    cut = ibis.date(cutoff)
    year_start = ibis.date(cutoff - timedelta(days=ACTIVE_DAYS))
    recent = ibis.date(cutoff - timedelta(days=exposure_days))
    end = ibis.date(cutoff + timedelta(days=horizon_days))
    quiet = ibis.date(cutoff + timedelta(days=horizon_days - QUIET_DAYS))
    d = customer_days(con.table("orders")) if days is None else days
    d = d.filter(d.order_date <= end)
    before = d.order_date <= cut
    in_year = before & (d.order_date > year_start)
    zero = ibis.literal(0, type="decimal(18, 2)")
    per = d.group_by("customer_id").aggregate(
        first_order_date=ibis.ifelse(before, d.order_date, ibis.null()).min(),
        purchases_year=ibis.ifelse(in_year, 1, 0).sum(),
        revenue=ibis.ifelse(in_year, d.amount, zero).sum(),
        last_order_date=ibis.ifelse(before, d.order_date, ibis.null()).max(),
        after=ibis.ifelse(d.order_date > quiet, 1, 0).sum(),
    )
    per = per.filter(per.last_order_date > recent)
    customers = con.table("customers").select("customer_id", "segment")
    return per.left_join(customers, "customer_id").drop("customer_id_right")


def people_by_cutoff(con: Any, cutoffs: list[date], days: Any = None) -> Any:
    """:func:`people_at`'s numbers at every one of ``cutoffs`` (``HORIZON_DAYS`` and
    ``EXPOSURE_DAYS``) in one pass over the table by customer and day, one row per customer
    and four columns per cutoff (:func:`_cutoff_columns`): each cutoff's people were a
    whole group-by over that table, twice (the drivers' counts, the strata's totals), six
    cutoffs a scan. A customer's first purchase day is one column for all of them: who
    bought in the days up to a cutoff bought first on their first day of all.

    Keep it (``pipeline._kept``) and hand it to :func:`find_drivers` as ``people``."""
    d = customer_days(con.table("orders")) if days is None else days
    d = d.filter(d.order_date <= ibis.date(max(cutoffs) + timedelta(days=HORIZON_DAYS)))
    zero = ibis.literal(0, type="decimal(18, 2)")
    columns: dict[str, Any] = {"first_order_date": d.order_date.min()}
    for cutoff in sorted(set(cutoffs)):
        cut = d.order_date <= ibis.date(cutoff)
        in_year = cut & (d.order_date > ibis.date(cutoff - timedelta(days=ACTIVE_DAYS)))
        recent = cut & (d.order_date > ibis.date(cutoff - timedelta(days=EXPOSURE_DAYS)))
        end = cutoff + timedelta(days=HORIZON_DAYS)
        quiet = (d.order_date > ibis.date(end - timedelta(days=QUIET_DAYS))) & (
            d.order_date <= ibis.date(end)
        )
        names = _cutoff_columns(cutoff)
        columns[names["purchases_year"]] = ibis.ifelse(in_year, 1, 0).sum()
        columns[names["revenue"]] = ibis.ifelse(in_year, d.amount, zero).sum()
        columns[names["recent"]] = ibis.ifelse(recent, 1, 0).max()
        columns[names["after"]] = ibis.ifelse(quiet, 1, 0).sum()
    per = d.group_by("customer_id").aggregate(**columns)
    customers = con.table("customers").select("customer_id", "segment")
    return per.left_join(customers, "customer_id").drop("customer_id_right")


def _cutoff_columns(cutoff: date) -> dict[str, str]:
    """The names of :func:`people_by_cutoff`'s columns for ``cutoff``."""
    day = cutoff.strftime("%Y%m%d")
    return {name: f"{name}_{day}" for name in ("purchases_year", "revenue", "recent", "after")}


def _people_from(people: Any, cutoff: date) -> Any:
    """:func:`_people`'s columns at ``cutoff``, read from :func:`people_by_cutoff`'s table
    (None when it has no columns for that cutoff)."""
    names = _cutoff_columns(cutoff)
    if names["recent"] not in people.columns:
        return None
    at = people.filter(people[names["recent"]] == 1)
    return at.select(
        "customer_id",
        "first_order_date",
        "segment",
        purchases_year=at[names["purchases_year"]],
        revenue=at[names["revenue"]],
        after=at[names["after"]],
    )


def _first_day_at_least(years: float) -> int:
    """The fewest whole days ``d`` with ``d / 365.25 >= years``: :func:`strata`'s tenure
    band boundary, as a day count a query can compare dates with."""
    d = math.floor(years * 365.25)
    while d / 365.25 < years:
        d += 1
    return d


def _strata_columns(people: Any, cutoff: date) -> Any:
    """:func:`strata`'s three parts as columns of the Ibis table ``people``: ``segment``
    (null as "all"), ``tenure`` and ``buying`` (the bands' numbers, as ``np.digitize``
    gives them there)."""
    tenure = ibis.literal(0)
    for band, years in enumerate(_TENURE_YEARS, start=1):
        since = ibis.date(cutoff - timedelta(days=_first_day_at_least(years)))
        tenure = ibis.ifelse(people.first_order_date <= since, band, tenure)
    buying = ibis.literal(0)
    bought = people.purchases_year.fill_null(0)
    for band, least in enumerate(_BUYING_BANDS, start=1):
        buying = ibis.ifelse(bought >= least, band, buying)
    return people.mutate(
        segment=people.segment.cast("string").fill_null("all"), tenure=tenure, buying=buying
    )


def stratum_counts(
    con: Any,
    cutoff: date,
    horizon_days: int = HORIZON_DAYS,
    exposure_days: int = EXPOSURE_DAYS,
    days: Any = None,
    lines: Any = None,
    people: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What :func:`compare` reads at ``cutoff``, counted by the engine rather than row by
    row in pandas: per (factor, level, stratum) the customers who met it, how many of them
    lapsed and their revenue (all of it, and the lapsed ones'); per stratum everybody and
    the lapsed. (``days``, ``lines`` and ``people`` as :func:`find_drivers` takes them.)

    Only a few thousand rows come back where :func:`people_at` and :func:`exposures_at`
    brought every customer and every exposure into pandas (at 300,000 customers, 143,000
    and 716,000 rows, a third of each cutoff's time in the conversions and the string
    keys).
    """
    given = None
    if people is not None and (horizon_days, exposure_days) == (HORIZON_DAYS, EXPOSURE_DAYS):
        given = _people_from(people, cutoff)
    if given is None:
        given = _people(con, cutoff, horizon_days, exposure_days, days)
    people = _strata_columns(given, cutoff)
    people = people.select(
        customer_id=people.customer_id.cast("string"),
        segment=people.segment,
        tenure=people.tenure,
        buying=people.buying,
        lapsed=ibis.ifelse(people["after"] == 0, 1, 0),
        revenue=people.revenue,
    )
    stratum = ["segment", "tenure", "buying"]
    met = exposure_features(con, cutoff, exposure_days, lines)
    both = met.join(people, "customer_id")
    zero = ibis.literal(0, type="decimal(18, 2)")
    levels = both.group_by(["factor", "level", *stratum]).aggregate(
        n=both.count(),
        lapsed=both.lapsed.sum(),
        revenue=both.revenue.sum(),
        lapsed_revenue=ibis.ifelse(both.lapsed == 1, both.revenue, zero).sum(),
    )
    totals = people.group_by(stratum).aggregate(n=people.count(), lapsed=people.lapsed.sum())
    return _frame(levels), _frame(totals)


def _frame(expr: Any) -> pd.DataFrame:
    """A small aggregate as pandas, money as floats."""
    frame: pd.DataFrame = expr.to_pyarrow().to_pandas()
    for name in ("revenue", "lapsed_revenue"):
        if name in frame:
            frame[name] = frame[name].astype(float)
    return frame


def compare_strata(
    levels: pd.DataFrame,
    totals: pd.DataFrame,
    labels: dict[str, str] | None = None,
    min_exposed: int = MIN_EXPOSED,
) -> list[Driver]:
    """:func:`compare` over :func:`stratum_counts`' counts: the same drivers (the same
    counts; the sums in another order, so floats equal to rounding), strongest first.

    A stratum's customers who met a level are left out when all of its customers met it
    (no baseline), as there; the excess revenue is each stratum's lapsed customers'
    revenue less its baseline rate times all of theirs.
    """
    labels = labels or {}
    stratum = ["segment", "tenure", "buying"]
    # The engine returns rows in any order: sorted, so that the floats' sums are the same
    # from one run to the next.
    levels = levels.sort_values(["factor", "level", *stratum], kind="stable")
    totals = totals.reset_index(drop=True)
    at = pd.MultiIndex.from_frame(totals[stratum]).get_indexer(
        pd.MultiIndex.from_frame(levels[stratum])
    )
    all_n = totals["n"].to_numpy(dtype=float)[at]
    all_l = totals["lapsed"].to_numpy(dtype=float)[at]
    everybody = float(totals["n"].sum())
    n_s = levels["n"].to_numpy(dtype=float)
    l_s = levels["lapsed"].to_numpy(dtype=float)
    r_s = levels["revenue"].to_numpy(dtype=float)
    lr_s = levels["lapsed_revenue"].to_numpy(dtype=float)
    m_s, c_s = all_n - n_s, all_l - l_s
    found = []
    groups = levels.groupby(["factor", "level"], sort=True).indices
    for key, rows in groups.items():
        factor, level = cast(tuple[str, str], key)
        if n_s[rows].sum() < min_exposed or n_s[rows].sum() == everybody:
            continue
        rows = rows[m_s[rows] > 0]
        n = int(n_s[rows].sum())
        if n < min_exposed:
            continue
        p_s = c_s[rows] / m_s[rows]
        var_e = float((n_s[rows] ** 2 * p_s * (1 - p_s) / m_s[rows]).sum())
        observed = float(l_s[rows].sum())
        expected = float((n_s[rows] * p_s).sum())
        if observed == 0 or expected == 0:
            continue
        lost = float((lr_s[rows] - p_s * r_s[rows]).sum())
        found.append(_driver(factor, level, labels, n, observed, expected, var_e, lost))
    return sorted(found, key=lambda d: (-d.low, d.factor, d.level))


def staff_names(con: Any) -> dict[str, str]:
    """``"staff:<id>"`` → the staff member's name, for the drivers' labels."""
    staff = con.table("staff").select("staff_id", "name").to_pyarrow().to_pylist()
    return {f"staff:{r['staff_id']}": str(r["name"]) for r in staff if r["name"]}


def find_drivers(
    con: Any,
    as_of: date,
    horizon_days: int = HORIZON_DAYS,
    exposure_days: int = EXPOSURE_DAYS,
    min_exposed: int = MIN_EXPOSED,
    days: Any = None,
    lines: Any = None,
    people: Any = None,
) -> list[Driver]:
    """The drivers at the newest cutoff whose horizon has passed (``as_of - horizon``).

    ``days`` and ``lines`` are ``features.customer_days`` and ``features.line_days`` when
    the scan keeps them for several cutoffs; without them they are computed in the queries.
    ``people`` is :func:`people_by_cutoff`'s table when the scan keeps it (a cutoff it does
    not cover is read from ``days``).
    """
    cutoff = as_of - timedelta(days=horizon_days)
    levels, totals = stratum_counts(con, cutoff, horizon_days, exposure_days, days, lines, people)
    if levels.empty:
        return []
    return compare_strata(levels, totals, staff_names(con), min_exposed)


def exposures_at(
    con: Any, as_of: date, exposure_days: int = EXPOSURE_DAYS, lines: Any = None
) -> pd.DataFrame:
    """``features.exposure_features`` as pandas (``lines`` as :func:`find_drivers` takes it)."""
    frame: pd.DataFrame = (
        exposure_features(con, as_of, exposure_days, lines).to_pyarrow().to_pandas()
    )
    return frame


def clear_exposures_at(
    con: Any, as_of: date, drivers: list[Driver], lines: Any = None
) -> pd.DataFrame:
    """:func:`exposures_at` (``EXPOSURE_DAYS``), only the rows of ``drivers``' clear ones:
    all that :func:`risk_driver_features` reads of it. The engine drops the others, so a
    few tens of thousands of rows come to pandas rather than every exposure (716,000 at
    300,000 customers)."""
    expr = exposure_features(con, as_of, EXPOSURE_DAYS, lines)
    clear: dict[str, list[str]] = {}
    for d in drivers:
        if d.clear:
            clear.setdefault(d.factor, []).append(d.level)
    if clear:
        wanted = [(expr.factor == f) & expr.level.isin(levels) for f, levels in clear.items()]
        expr = expr.filter(ibis.or_(*wanted))
    else:
        expr = expr.limit(0)
    frame: pd.DataFrame = expr.to_pyarrow().to_pandas()
    return frame


def risk_driver_features(exposures: pd.DataFrame, drivers: list[Driver]) -> pd.DataFrame:
    """Per customer: the clear drivers they met now, as feature columns and a reason.

    ``driver_lapse_ratio`` is the highest ratio among the clear drivers (interval above 1)
    the customer met (1.0 for none), ``drivers_met`` how many, ``risk_driver`` the reason
    text of the strongest (null for none) and ``risk_driver_line`` the worst clear product
    line they bought (null for none: an offer can carry a guarantee on it). Indexed by
    customer id.
    """
    clear = {(d.factor, d.level): d for d in drivers if d.clear}
    columns = ["driver_lapse_ratio", "drivers_met", "risk_driver", "risk_driver_line"]
    if not clear or exposures.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="customer_id"))
    order = list(clear)
    # Each exposure's driver by one index lookup (not a dict lookup per row: millions of
    # rows at a million customers, six times a scan).
    known = pd.MultiIndex.from_tuples(order, names=["factor", "level"])
    met = pd.MultiIndex.from_arrays([exposures["factor"], exposures["level"]])
    which = np.asarray(known.get_indexer(met), dtype=np.int64)
    ratios = np.array([clear[key].ratio for key in order], dtype=np.float64)
    lines = np.array([clear[key].factor == "product line" for key in order], dtype=bool)
    hit = exposures.assign(which=which)[which >= 0]
    hit = hit.assign(ratio=ratios[hit["which"].to_numpy()])
    hit = hit.sort_values(["customer_id", "ratio"], ascending=[True, False], kind="stable")
    best = hit.groupby("customer_id", sort=True).first()
    # Each driver's reason worded once, then taken by row.
    texts = np.array([clear[key].reason() for key in order], dtype=object)
    reasons = texts[best["which"].to_numpy(dtype=np.int64)].tolist()
    is_line = lines[hit["which"].to_numpy()]
    worst_line = hit[is_line].groupby("customer_id", sort=True)["level"].first()
    out = pd.DataFrame(
        {
            "driver_lapse_ratio": best["ratio"].astype(float),
            "drivers_met": hit.groupby("customer_id", sort=True).size().astype("int64"),
            "risk_driver": reasons,
        },
        index=best.index,
    )
    out["risk_driver_line"] = worst_line.reindex(out.index)
    out.index.name = "customer_id"
    return out


def with_drivers(features: pd.DataFrame, drivers: pd.DataFrame) -> pd.DataFrame:
    """``features`` with the risk-driver columns of :func:`risk_driver_features` joined on
    by ``customer_id`` (ratio 1 and no driver for those who met none)."""
    out = joined_on_ids(
        features.drop(columns=[c for c in drivers.columns if c in features]), drivers
    )
    out["driver_lapse_ratio"] = out["driver_lapse_ratio"].astype(float).fillna(1.0)
    out["drivers_met"] = out["drivers_met"].fillna(0).astype("int64")
    return out.reset_index(drop=True)


def drivers_met_at(
    con: Any, cutoff: date, days: Any = None, lines: Any = None, people: Any = None
) -> pd.DataFrame:
    """The clear risk drivers each customer met in the ``EXPOSURE_DAYS`` up to ``cutoff``,
    the drivers found from outcomes up to ``cutoff`` only (:func:`find_drivers` there:
    exposures a year before it, lapses by it), as :func:`risk_driver_features` gives them.

    At a backtest's past cutoff this is what the scan would have known then: nothing after
    the cutoff is read, so the lapse-risk model can learn from it without leakage.
    ``days``, ``lines`` and ``people`` as :func:`find_drivers` takes them.
    """
    found = find_drivers(con, cutoff, days=days, lines=lines, people=people)
    return risk_driver_features(clear_exposures_at(con, cutoff, found, lines), found)
