"""Per-customer features at a cutoff date, as Ibis expressions over the ledger's tables.

Everything here is a lazy Ibis expression: DuckDB runs it by default, and the same
expressions run on PySpark (``winback[spark]``). Only portable operations are used (no
backend SQL), and dates are compared, never subtracted into intervals, so that each engine
computes the same numbers.

A *purchase* is a day on which the customer ordered: several orders on one day are one
purchase, as in the customer-base models. Cancelled and refunded orders do not count.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from winback.ledger.contract import COUNTED_ORDER_STATUSES
from winback.policy import Policy

RHYTHM_HALF_YEAR = (
    182  # the windows the frequency trend compares: the last half year and the one before
)
QUARTER_DAYS = 91  # the recent window that engagement and tone compare with the year before
RECENT_GAPS = 3  # the latest gaps whose mean says whether a customer's gaps lengthen


def _days_between(later: Any, earlier: Any) -> Any:
    return later.delta(earlier, unit="day")


def counted_orders(orders: ir.Table) -> ir.Table:
    """The orders that count as purchases: not cancelled or refunded."""
    return orders.filter(orders.status.isnull() | orders.status.isin(COUNTED_ORDER_STATUSES))


def customer_days(orders: ir.Table) -> ir.Table:
    """One row per customer and purchase day, whatever the cutoff: the day's counted orders
    and money, the purchase days before and after it (``previous_day``, null on the first;
    ``next_day``) and the ``RECENT_GAPS``-th one after it (``later_day``: a day is among
    the latest ``RECENT_GAPS`` by a cutoff when that one is missing or after the cutoff).

    Every cutoff's order features are filtered aggregates over this table
    (:func:`order_features`): the scan computes it once (and caches it) for today's frame and
    every past cutoff of the backtest instead of re-reading the orders at each. Money stays
    DECIMAL: the day's sum, summed again, is the same exact sum.
    """
    zero = ibis.literal(0, type="decimal(18, 2)")
    o = counted_orders(orders)
    days = o.group_by(["customer_id", "order_date"]).aggregate(
        orders=o.count(),
        amount=o.amount.sum(),
        margin_known=ibis.ifelse(o.margin.notnull(), o.margin, zero).sum(),
        amount_without_margin=ibis.ifelse(o.margin.isnull(), o.amount, zero).sum(),
    )
    # One ordering for every column: a window partitioned without one (the first day as a
    # minimum over the customer) cost a second sort. The first purchase day is the one
    # without a previous day.
    w = ibis.window(group_by=days.customer_id, order_by=days.order_date)
    return days.mutate(
        previous_day=days.order_date.lag().over(w),
        next_day=days.order_date.lead().over(w),
        later_day=days.order_date.lead(RECENT_GAPS).over(w),
    )


def _order_metrics(d: ir.Table, as_of: date, policy: Policy) -> dict[str, Any]:
    """:func:`order_features`' aggregates over ``d``, the purchase days up to ``as_of``."""
    cut = ibis.date(as_of)
    period = policy.lapse.volume_period_days
    recent_start = ibis.date(as_of - timedelta(days=period))
    prior_start = ibis.date(as_of - timedelta(days=2 * period))
    year_ago_end = ibis.date(as_of - timedelta(days=365))
    year_ago_start = ibis.date(as_of - timedelta(days=365 + period))
    last_year = ibis.date(as_of - timedelta(days=365))
    window_start = ibis.date(as_of - timedelta(days=round(365.25 * policy.worth.years)))
    half = ibis.date(as_of - timedelta(days=RHYTHM_HALF_YEAR))
    year = ibis.date(as_of - timedelta(days=2 * RHYTHM_HALF_YEAR))

    # Money is summed as DECIMAL, exactly, and only then turned into floats: a float sum
    # depends on the order of the rows, which differs between engines and runs.
    zero = ibis.literal(0, type="decimal(18, 2)")
    in_window = d.order_date > window_start
    gap = _days_between(d.order_date, d.previous_day)
    # The newest purchase day by the cutoff: no purchase day after it up to the cutoff.
    newest = d.next_day.isnull() | (d.next_day > cut)

    def revenue_between(start: Any, end: Any) -> Any:
        return ibis.ifelse((d.order_date > start) & (d.order_date <= end), d.amount, zero).sum()

    return {
        "first_order_date": d.order_date.min(),
        "last_order_date": d.order_date.max(),
        "purchases": d.count(),
        "orders": d.orders.sum(),
        "revenue": d.amount.sum(),
        "first_day_revenue": ibis.ifelse(d.previous_day.isnull(), d.amount, zero).sum(),
        "revenue_last_year": revenue_between(last_year, cut),
        "revenue_recent": revenue_between(recent_start, cut),
        "revenue_prior": revenue_between(prior_start, recent_start),
        "revenue_year_ago": revenue_between(year_ago_start, year_ago_end),
        "margin_known": ibis.ifelse(in_window, d.margin_known, zero).sum(),
        "revenue_without_margin": ibis.ifelse(in_window, d.amount_without_margin, zero).sum(),
        "longest_gap_days": gap.max(),
        "last_gap_days": ibis.ifelse(newest, gap, ibis.null()).max(),
        "purchases_half_year": ibis.ifelse(d.order_date > half, 1, 0).sum(),
        "purchases_half_year_before": ibis.ifelse(
            (d.order_date > year) & (d.order_date <= half), 1, 0
        ).sum(),
    }


def _order_columns(per: ir.Table, as_of: date, policy: Policy) -> ir.Table:
    """``per`` (:func:`_order_metrics` by customer) with its money as floats, the margin of
    the past years, the days since the last purchase and the customer's own interval."""
    money = (
        "revenue",
        "first_day_revenue",
        "revenue_last_year",
        "revenue_recent",
        "revenue_prior",
        "revenue_year_ago",
    )
    per = per.mutate(
        **{name: per[name].cast("float64") for name in money},
        margin_past_years=per.margin_known.cast("float64")
        + per.revenue_without_margin.cast("float64") * policy.worth.default_margin_rate,
    ).drop("margin_known", "revenue_without_margin")
    span = _days_between(per.last_order_date, per.first_order_date).cast("float64")
    return per.mutate(
        days_since_last_order=_days_between(ibis.date(as_of), per.last_order_date),
        own_interval_days=ibis.ifelse(per.purchases > 1, span / (per.purchases - 1), ibis.null()),
    )


def order_features(days: ir.Table, as_of: date, policy: Policy) -> ir.Table:
    """Purchases, revenue, margin, recent volume and the rhythm of purchase days per
    customer, up to ``as_of``, from :func:`customer_days`.

    ``longest_gap_days`` is the longest completed gap between two purchase days,
    ``last_gap_days`` the latest one (between the last two); the open gap since the last
    purchase is ``days_since_last_order``. ``purchases_half_year`` and
    ``purchases_half_year_before`` count purchase days in the last ``RHYTHM_HALF_YEAR``
    days and the ones before.
    """
    d = days.filter(days.order_date <= ibis.date(as_of))
    per = d.group_by("customer_id").aggregate(**_order_metrics(d, as_of, policy))
    return _order_columns(per, as_of, policy)


def _with_open_gap(days: ir.Table, as_of: date) -> ir.Table:
    """The purchase days up to ``as_of``, each with its customer's ``days_since_last_order``
    then (:func:`last_orders`, joined on: a join on the customer is cheaper than a window
    over the customer's days)."""
    d = days.filter(days.order_date <= ibis.date(as_of))
    last = last_orders(days, as_of).select("customer_id", "days_since_last_order")
    return d.join(last, "customer_id")


def _gap_metrics(d: ir.Table, as_of: date) -> dict[str, Any]:
    """:func:`gap_spread_features`' aggregates over ``d`` (:func:`_with_open_gap`).

    The spread and the mean spends come from exact sums (whole days, DECIMAL money), not
    from float sums whose last digit depends on the order in which the engine meets the
    rows (which the plan, the engine and the threads decide)."""
    days = _days_between(d.order_date, d.previous_day)
    gap = days.cast("float64")
    zero = ibis.literal(0, type="decimal(18, 2)")
    # Among the latest RECENT_GAPS purchase days by the cutoff: fewer than RECENT_GAPS after it.
    latest = d.later_day.isnull() | (d.later_day > ibis.date(as_of))
    n, total, squares = days.count(), days.sum(), (days * days).sum()
    variance = (n * squares - total * total).cast("float64") / (n * n).cast("float64")
    return {
        "gap_mean_days": gap.mean(),
        "gap_sd_days": ibis.ifelse(n > 0, variance.sqrt(), ibis.null()),
        "gaps_at_least_open": ibis.ifelse(gap >= d.days_since_last_order, 1, 0).sum(),
        "recent_gap_mean_days": ibis.ifelse(latest, gap, ibis.null()).mean(),
        "day_revenue_mean": d.amount.sum().cast("float64") / d.count(),
        "recent_day_revenue": ibis.ifelse(latest, d.amount, zero).sum().cast("float64")
        / ibis.ifelse(latest, 1, 0).sum(),
    }


def gap_spread_features(days: ir.Table, as_of: date) -> ir.Table:
    """The customer's own distribution of gaps between purchase days, and of what a
    purchase day brings, for reading the latest against them, from :func:`customer_days`:
    ``gap_mean_days`` and ``gap_sd_days`` of the completed gaps, ``gaps_at_least_open`` how
    many of them were at least as long as the gap open now (days since the last purchase),
    ``recent_gap_mean_days`` the mean of the latest ``RECENT_GAPS`` (gaps lengthening on
    the way out); ``recent_day_revenue``, the mean spend of the latest ``RECENT_GAPS``
    purchase days, beside ``day_revenue_mean`` (spend fading)."""
    d = _with_open_gap(days, as_of)
    return d.group_by("customer_id").aggregate(**_gap_metrics(d, as_of))


def purchase_features(days: ir.Table, as_of: date, policy: Policy) -> ir.Table:
    """:func:`order_features` and :func:`gap_spread_features` together, in one aggregate
    over the purchase days (the scan's: each pass over ``days`` costs at a million
    customers)."""
    d = _with_open_gap(days, as_of)
    per = d.group_by("customer_id").aggregate(
        **_order_metrics(d, as_of, policy), **_gap_metrics(d, as_of)
    )
    return _order_columns(per, as_of, policy)


def last_orders(days: ir.Table, as_of: date) -> ir.Table:
    """Each customer's last purchase day by ``as_of`` and the days since: all that a
    backtest's label reads of a later date."""
    cut = ibis.date(as_of)
    d = days.filter(days.order_date <= cut)
    per = d.group_by("customer_id").aggregate(last_order_date=d.order_date.max())
    return per.mutate(days_since_last_order=_days_between(cut, per.last_order_date))


def purchase_summary(days: ir.Table, as_of: date) -> ir.Table:
    """Each customer's first and last purchase day by ``as_of`` and their number of
    purchase days (``purchases``, as :func:`order_features` counts them): all that the
    customer-base models read of a date, for the models' holdout start."""
    d = days.filter(days.order_date <= ibis.date(as_of))
    return d.group_by("customer_id").aggregate(
        first_order_date=d.order_date.min(),
        last_order_date=d.order_date.max(),
        purchases=d.count(),
    )


def customer_features(
    con: Any, as_of: date, policy: Policy, days: ir.Table | None = None
) -> ir.Table:
    """Every customer who has bought by ``as_of``, with all of the above joined on.

    ``con`` is an Ibis backend whose tables are the data contract's (see
    ``Ledger.ibis()``); the result is an unexecuted expression. ``days`` is
    :func:`customer_days` of its orders when the caller keeps it (cached) for several
    dates; without it, it is computed within this expression.

    Each table is aggregated once, however many of the functions below read it (the
    lapse-risk model's inputs beside the rest): their columns from one pass over the table
    and one join, not one of each per function.
    """
    if days is None:
        days = customer_days(con.table("orders"))
    base = purchase_features(days, as_of, policy)
    customers = con.table("customers").select("customer_id", "name", "segment")
    events = _events_by(con.table("marketing_events"), as_of)
    marketing, engagement = (
        _marketing_metrics(events, as_of, policy),
        _engagement_metrics(events, as_of),
    )
    incidents = _recent_incidents(con.table("incidents"), as_of, policy)
    recent, repair = _incident_metrics(incidents), _repair_metrics(incidents, as_of)
    lapse = lapse_incident_features(
        con.table("incidents"),
        last_orders(days, as_of).select("customer_id", "last_order_date"),
        as_of,
    )
    contacts = _interactions_by(con.table("interactions"), as_of)
    contact, mood = _interaction_metrics(contacts, as_of), _mood_metrics(contacts, as_of)
    payment = payment_features(con.table("invoices"), as_of, policy)
    returned = return_features(con.table("returns"), as_of)
    posts = _posts_by(con.table("public_posts"), as_of)
    post, complaint = _post_metrics(posts), _complaint_metrics(posts, as_of, policy)
    joined = base.left_join(customers, "customer_id").drop("customer_id_right")
    for extra in (
        events.group_by("customer_id").aggregate(**marketing, **engagement),
        incidents.group_by("customer_id").aggregate(**recent, **repair),
        lapse,
        contacts.group_by("customer_id").aggregate(**contact, **mood),
        payment,
        returned,
        _counted_complaints(posts.group_by("customer_id").aggregate(**post, **complaint)),
    ):
        joined = joined.left_join(extra, "customer_id").drop("customer_id_right")
    # The columns in the order each function's own join gave them (the frame's layout).
    gaps = gap_spread_features(days, as_of).columns[1:]
    return joined.mutate(segment=joined.segment.fill_null("all")).select(
        *(c for c in base.columns if c not in gaps),
        "name",
        "segment",
        *marketing,
        *recent,
        *lapse.columns[1:],
        *contact,
        *payment.columns[1:],
        *returned.columns[1:],
        *gaps,
        *engagement,
        *mood,
        *repair,
        *post,
        *complaint,
    )


def _events_by(events: ir.Table, as_of: date) -> ir.Table:
    return events.filter(events.occurred_at <= ibis.timestamp(f"{as_of.isoformat()} 23:59:59"))


def _marketing_metrics(e: ir.Table, as_of: date, policy: Policy) -> dict[str, Any]:
    months = policy.lapse.no_engagement_months
    since = ibis.timestamp(
        f"{(as_of - timedelta(days=round(30.44 * months))).isoformat()} 00:00:00"
    )
    engaged = e.event.isin(("opened", "clicked", "converted"))
    return {
        "sent_recently": ibis.ifelse((e.event == "sent") & (e.occurred_at > since), 1, 0).sum(),
        "last_engaged_at": ibis.ifelse(engaged, e.occurred_at, ibis.null()).max(),
    }


def marketing_features(events: ir.Table, as_of: date, policy: Policy) -> ir.Table:
    """Marketing sent recently, and the last time the customer engaged with any."""
    e = _events_by(events, as_of)
    return e.group_by("customer_id").aggregate(**_marketing_metrics(e, as_of, policy))


def _recent_incidents(incidents: ir.Table, as_of: date, policy: Policy) -> ir.Table:
    cut = ibis.date(as_of)
    since = ibis.date(as_of - timedelta(days=policy.worth.recent_incident_days))
    return incidents.filter((incidents.occurred_on <= cut) & (incidents.occurred_on > since))


def _incident_metrics(i: ir.Table) -> dict[str, Any]:
    return {
        "recent_incidents": i.count(),
        "worst_recent_severity": i.severity.max(),
        "last_incident_type": i.type.argmax(i.occurred_on),
        "last_incident_on": i.occurred_on.max(),
    }


def incident_features(incidents: ir.Table, as_of: date, policy: Policy) -> ir.Table:
    """Mistakes the customer suffered recently."""
    i = _recent_incidents(incidents, as_of, policy)
    return i.group_by("customer_id").aggregate(**_incident_metrics(i))


#: Words in an interaction's tags or subject (a staff note's text) that record rudeness.
RUDE_WORDS = (
    r"\b(rude|rudeness|abusive|abuse of staff|aggressive|hostile|insult\w*|swear\w*|threat\w*)\b"
)


#: The window around a customer's last order whose incidents most likely made them leave:
#: from this many days before it ...
LAPSE_INCIDENT_BEFORE_DAYS = 120
#: ... to this many after (a mistake on an order still on its way).
LAPSE_INCIDENT_AFTER_DAYS = 30


def lapse_incident_features(incidents: ir.Table, last_orders: ir.Table, as_of: date) -> ir.Table:
    """The mistakes around the customer's last counted order, however long ago it was:
    ``lapse_incidents`` (how many) and ``lapse_incident_type`` (the latest one's type).
    ``last_orders`` has ``customer_id`` and ``last_order_date`` (:func:`order_features`).

    Unlike the recent incidents (the last ``recent_incident_days`` before ``as_of``), these
    follow the customer's own lapse: a price rise or a competitor's offer just before
    someone stopped buying is what a price break or a coupon answers."""
    i = incidents.filter(incidents.occurred_on <= ibis.date(as_of))
    i = i.select("customer_id", "occurred_on", "type").join(last_orders, "customer_id")
    gap = _days_between(i.last_order_date, i.occurred_on)
    near = i.filter((gap <= LAPSE_INCIDENT_BEFORE_DAYS) & (gap >= -LAPSE_INCIDENT_AFTER_DAYS))
    return near.group_by("customer_id").aggregate(
        lapse_incidents=near.count(),
        lapse_incident_type=near.type.argmax(near.occurred_on),
    )


def _interactions_by(interactions: ir.Table, as_of: date) -> ir.Table:
    cut = ibis.timestamp(f"{as_of.isoformat()} 23:59:59")
    return interactions.filter(interactions.occurred_at <= cut)


def _complaint(x: ir.Table) -> Any:
    """Whether an interaction is a complaint (tag ``complaint``, any case)."""
    return x.tags.fill_null("").lower().contains("complaint")


def _interaction_metrics(x: ir.Table, as_of: date) -> dict[str, Any]:
    year = ibis.timestamp(f"{(as_of - timedelta(days=365)).isoformat()} 00:00:00")
    inbound = x.direction.isnull() | (x.direction == "inbound")
    tags = x.tags.fill_null("").lower()
    complaint = _complaint(x)
    # A complaint's words are about the business ("rude service"), never the customer's.
    note = x.channel.fill_null("") == "note"
    words = ~complaint & (
        tags.re_search(RUDE_WORDS) | (note & x.subject.fill_null("").lower().re_search(RUDE_WORDS))
    )
    return {
        "contacts_last_year": ibis.ifelse((x.occurred_at > year) & inbound, 1, 0).sum(),
        "rude_interactions": ibis.ifelse(x.customer_rude.fill_null(False), 1, 0).sum(),
        "rude_noted": ibis.ifelse(x.customer_rude.fill_null(False) | words, 1, 0).sum(),
        "interactions_judged": ibis.ifelse(
            x.customer_rude.notnull() | x.tags.notnull(), 1, 0
        ).sum(),
        "contacts": ibis.ifelse(complaint, 0, 1).sum(),
        "last_contact_at": x.occurred_at.max(),
        "mean_sentiment": x.sentiment.mean(),
        "unresolved": ibis.ifelse(x.resolved.fill_null(True), 0, 1).sum(),
    }


def interaction_features(interactions: ir.Table, as_of: date) -> ir.Table:
    """Contacts, rudeness recorded by staff, sentiment.

    ``rude_noted`` counts the interactions where staff recorded rudeness: the rude mark, or
    a tag or a staff note's subject with one of :data:`RUDE_WORDS` (never a complaint's);
    ``interactions_judged`` those where they could have (the mark is filled in, or there
    are tags). ``contacts`` counts every interaction except complaints (tag ``complaint``):
    a complaint about the business's own mistake is not the customer's heavy contact.
    """
    x = _interactions_by(interactions, as_of)
    return x.group_by("customer_id").aggregate(**_interaction_metrics(x, as_of))


def payment_features(invoices: ir.Table, as_of: date, policy: Policy) -> ir.Table:
    """Share of invoices paid late (unpaid and overdue counts as late)."""
    cut = ibis.date(as_of)
    grace = policy.worth.late_grace_days
    v = invoices.filter(
        (invoices.issued_on <= cut) & (invoices.due_on < ibis.date(as_of - timedelta(days=grace)))
    )
    late = ibis.ifelse(
        v.paid_on.isnull() | (v.paid_on > cut),
        1,
        ibis.ifelse(_days_between(v.paid_on, v.due_on) > grace, 1, 0),
    )
    return v.group_by("customer_id").aggregate(invoices_due=v.count(), invoices_late=late.sum())


def return_features(returns: ir.Table, as_of: date) -> ir.Table:
    """Returns made, in number and value."""
    r = returns.filter(returns.returned_on <= ibis.date(as_of))
    per = r.group_by("customer_id").aggregate(returns=r.count(), returned_value=r.amount.sum())
    return per.mutate(returned_value=per.returned_value.cast("float64"))


def _posts_by(posts: ir.Table, as_of: date) -> ir.Table:
    cut = ibis.timestamp(f"{as_of.isoformat()} 23:59:59")
    return posts.filter((posts.posted_at <= cut) & posts.customer_id.notnull())


def _complaint_metrics(p: ir.Table, as_of: date, policy: Policy) -> dict[str, Any]:
    since = ibis.timestamp(
        f"{(as_of - timedelta(days=policy.worth.recent_incident_days)).isoformat()} 23:59:59"
    )
    complained = (p.sentiment < 0) & (p.posted_at > since)
    return {
        "public_complaints": ibis.ifelse(complained, 1, 0).sum(),
        "last_public_complaint_at": ibis.ifelse(complained, p.posted_at, ibis.null()).max(),
    }


def _counted_complaints(per: ir.Table) -> ir.Table:
    """``public_complaints`` missing, not 0, for a customer with none (as a customer with no
    row at all has it once joined on)."""
    n = per.public_complaints
    return per.mutate(public_complaints=ibis.ifelse(n > 0, n, ibis.null()))


def public_complaint_features(posts: ir.Table, as_of: date, policy: Policy) -> ir.Table:
    """Public complaints matched to the customer (``public_posts`` rows with a customer
    and a negative sentiment) in the recent-incident window, and the last one's day: a
    customer who complains in public is at risk."""
    p = _posts_by(posts, as_of)
    per = p.group_by("customer_id").aggregate(**_complaint_metrics(p, as_of, policy))
    return per.filter(per.public_complaints > 0)


def _engagement_metrics(e: ir.Table, as_of: date) -> dict[str, Any]:
    half = ibis.timestamp(f"{(as_of - timedelta(days=RHYTHM_HALF_YEAR)).isoformat()} 23:59:59")
    year = ibis.timestamp(f"{(as_of - timedelta(days=2 * RHYTHM_HALF_YEAR)).isoformat()} 23:59:59")
    quarter = ibis.timestamp(f"{(as_of - timedelta(days=QUARTER_DAYS)).isoformat()} 23:59:59")
    engaged = e.event.isin(("opened", "clicked", "converted"))
    sent, opened = e.event == "sent", e.event == "opened"
    recent, earlier = e.occurred_at > quarter, (e.occurred_at > year) & (e.occurred_at <= quarter)
    return {
        "engaged_half_year": ibis.ifelse(engaged & (e.occurred_at > half), 1, 0).sum(),
        "engaged_half_year_before": ibis.ifelse(
            engaged & (e.occurred_at > year) & (e.occurred_at <= half), 1, 0
        ).sum(),
        "unsubscribed": ibis.ifelse(e.event == "unsubscribed", 1, 0).sum(),
        "sent_quarter": ibis.ifelse(sent & recent, 1, 0).sum(),
        "opened_quarter": ibis.ifelse(opened & recent, 1, 0).sum(),
        "sent_before_quarter": ibis.ifelse(sent & earlier, 1, 0).sum(),
        "opened_before_quarter": ibis.ifelse(opened & earlier, 1, 0).sum(),
    }


def engagement_trend_features(events: ir.Table, as_of: date) -> ir.Table:
    """Opens and clicks in the last half year against the half year before, and whether
    the customer unsubscribed (by ``as_of``)."""
    e = _events_by(events, as_of)
    return e.group_by("customer_id").aggregate(**_engagement_metrics(e, as_of))


def _mood_metrics(x: ir.Table, as_of: date) -> dict[str, Any]:
    quarter = ibis.timestamp(f"{(as_of - timedelta(days=QUARTER_DAYS)).isoformat()} 23:59:59")
    everyday = ~_complaint(x) & x.sentiment.notnull()
    recent = x.occurred_at > quarter
    return {
        "sentiment_quarter": ibis.ifelse(everyday & recent, x.sentiment, ibis.null()).mean(),
        "sentiment_before_quarter": ibis.ifelse(
            everyday & ~recent, x.sentiment, ibis.null()
        ).mean(),
    }


def mood_features(interactions: ir.Table, as_of: date) -> ir.Table:
    """The tone of the customer's everyday contacts (complaints left out: they sound unhappy
    about a mistake whoever makes them) in the last ``QUARTER_DAYS`` and before: a customer
    on the way out sounds colder than they used to."""
    x = _interactions_by(interactions, as_of)
    x = x.filter(~_complaint(x) & x.sentiment.notnull())
    return x.group_by("customer_id").aggregate(**_mood_metrics(x, as_of))


def _repair_metrics(i: ir.Table, as_of: date) -> dict[str, Any]:
    cut = ibis.date(as_of)
    open_ = i.resolved_on.isnull() | (i.resolved_on > cut)
    return {"unrepaired_incidents": ibis.ifelse(open_, 1, 0).sum()}


def repair_features(incidents: ir.Table, as_of: date, policy: Policy) -> ir.Table:
    """Recent incidents the business had not put right by ``as_of``."""
    i = _recent_incidents(incidents, as_of, policy)
    return i.group_by("customer_id").aggregate(**_repair_metrics(i, as_of))


def _post_metrics(p: ir.Table) -> dict[str, Any]:
    return {"negative_posts": ibis.ifelse(p.sentiment.fill_null(0) < 0, 1, 0).sum()}


def post_features(posts: ir.Table, as_of: date) -> ir.Table:
    """Public posts matched to the customer by ``as_of``: how many were negative."""
    p = _posts_by(posts, as_of)
    return p.group_by("customer_id").aggregate(**_post_metrics(p))


#: What a customer can have met that the risk drivers weigh (``scan/drivers.py``).
EXPOSURE_FACTORS = ("product line", "staff", "channel", "incident")


def line_days(con: Any) -> ir.Table:
    """One row per customer, product line and purchase day, whatever the cutoff: the
    day's counted order lines of that line (a line's category, else its product name),
    their money (``value``, DECIMAL) and units (``units``: a line's quantity, 1 when missing
    or not positive).

    The sweet spot (``scan/sweet_spot.py``) and every cutoff's product-line exposures
    (:func:`exposure_features`) are filtered aggregates over this table: the scan computes
    it once (and keeps it) instead of joining the order lines to the orders at each cutoff.
    """
    o = counted_orders(con.table("orders")).select("order_id", "customer_id", "order_date")
    held = con.table("order_lines").join(o, "order_id")
    held = held.mutate(line=held.category.coalesce(held.product_name))
    held = held.filter(held.line.notnull() & (held.line != ""))
    units = held.quantity.fill_null(1)
    return held.group_by(["customer_id", "line", "order_date"]).aggregate(
        value=held.amount.sum(), units=ibis.ifelse(units > 0, units, 1).sum()
    )


def exposure_features(con: Any, as_of: date, days: int, lines: ir.Table | None = None) -> ir.Table:
    """What each customer met in the ``days`` up to ``as_of``, one row per thing met.

    Columns ``customer_id``, ``factor`` (one of :data:`EXPOSURE_FACTORS`) and ``level``:
    the product lines (a line's category, else its product name) of their counted orders,
    the staff who took those orders or dealt with them in an interaction, the orders'
    channels and the types of incident they suffered. Each row appears once. ``lines`` is
    :func:`line_days` when the caller keeps it for several dates; without it, it is
    computed within this expression.
    """
    cut, start = ibis.date(as_of), ibis.date(as_of - timedelta(days=days))
    o = counted_orders(con.table("orders"))
    o = o.filter((o.order_date <= cut) & (o.order_date > start))
    held = line_days(con) if lines is None else lines
    held = held.filter((held.order_date <= cut) & (held.order_date > start))
    x = con.table("interactions")
    x = x.filter(
        (x.occurred_at <= ibis.timestamp(f"{as_of.isoformat()} 23:59:59"))
        & (x.occurred_at > ibis.timestamp(f"{(as_of - timedelta(days=days)).isoformat()} 23:59:59"))
    )
    i = con.table("incidents")
    i = i.filter((i.occurred_on <= cut) & (i.occurred_on > start))

    def rows(table: ir.Table, factor: str, level: Any) -> ir.Table:
        return table.select(
            customer_id=table.customer_id.cast("string"),
            factor=ibis.literal(factor, type="string"),
            level=level.cast("string"),
        )

    parts = [
        rows(held, "product line", held.line),
        rows(o, "staff", o.staff_id),
        rows(x, "staff", x.staff_id),
        rows(o, "channel", o.channel),
        rows(i, "incident", i.type),
    ]
    # One distinct over all the parts (a distinct union of five is four hash passes).
    every = ibis.union(*parts, distinct=False).distinct()
    return every.filter(every.level.notnull() & (every.level != ""))
