"""The backtest on a sample of customers: a big ledger's past cutoffs read for a subset.

The lapse risk's backtest (``follow_suit.py``) reads the ledger at several past cutoffs
(the held-out one, two or more training cutoffs, the stayed-away grade's cutoff and its
own training cutoffs). Each read is a whole feature pass over every customer, a refit of
the customer-base model and the risk drivers met there, yet the classifier only ever fits
on a sample of ``MAX_FIT_ROWS`` rows. Above ``BACKTEST_CUSTOMERS`` customers, every past
read therefore covers a random sample of that many of today's customers: drawn in Python
from today's sorted customer ids with a fixed seed (``SAMPLE_SEED``), so every scan of the
same ledger, on DuckDB or Spark, reads the same customers. Today's customers are all still
scored; the held-out grades are then graded on the sample's rows.

:class:`SampledLedger` wraps an Ibis backend: each table holding ``customer_id`` comes
back semi-joined with the sample (``order_lines`` through the sampled ``orders``), so the
feature, label and exposure queries read only the sampled customers without a change of
their own. This runs no query until a table is read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import ibis
import numpy as np
import pandas as pd

#: Above this many of today's customers, the backtest's past cutoffs read a sample of this
#: many: enough for two training cutoffs to hold more than the fit's ``MAX_FIT_ROWS``
#: (at a million retail customers two cutoffs held 1.4M rows, so a quarter about 350,000)
#: and a held-out grade on tens of thousands of rows.
BACKTEST_CUSTOMERS = 250_000
SAMPLE_SEED = 20_160  # fixed: the same ledger samples the same customers every scan


def customer_sample(
    customer_ids: pd.Series, cap: int | None = None, seed: int = SAMPLE_SEED
) -> np.ndarray | None:
    """A deterministic random sample of ``cap`` (``BACKTEST_CUSTOMERS``) of the distinct
    ``customer_ids``, sorted; ``None`` when there are no more than ``cap`` (read everyone).

    The ids are sorted before the draw, so the sample depends only on which customers the
    ledger holds, never on the order an engine returned them in.
    """
    cap = BACKTEST_CUSTOMERS if cap is None else cap
    ids = np.unique(customer_ids.astype(str).to_numpy())
    if len(ids) <= cap:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(ids, size=cap, replace=False))


class SampledLedger:
    """An Ibis backend whose tables hold only the sampled customers' rows; everything else
    (``name``, ``to_parquet``, …) is the wrapped backend's.

    Each table is computed once when first read and handed to ``keep`` (the scan's
    ``pipeline._kept``: a Parquet file on DuckDB), so that a feature query reads plain
    tables: left as semi-joins, Ibis took longer compiling each query than DuckDB running it.
    """

    def __init__(
        self, con: Any, customer_ids: np.ndarray, keep: Callable[[Any], Any] = lambda t: t
    ) -> None:
        self._con = con
        self._keep = keep
        self._memtable = ibis.memtable(pd.DataFrame({"customer_id": customer_ids.astype(str)}))
        self._view: str | None = None
        self.customers = self._memtable
        if con.name != "duckdb":
            # Spark's cache() compiles its table without registering the memtables in it
            # (TABLE_OR_VIEW_NOT_FOUND): the sample becomes a temporary view first. (The
            # memtable is kept referenced: the view reads the table Ibis registered for it.)
            self._view = f"winback_sample_{uuid.uuid4().hex}"
            self.customers = con.create_view(self._view, self._memtable)
        self.kept: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def table(self, name: str) -> Any:
        """The wrapped backend's ``name``, only the sampled customers' rows of it (this
        runs a query the first time: the table is kept)."""
        if name not in self.kept:
            self.kept[name] = self._keep(self._sampled(name))
        return self.kept[name]

    def _sampled(self, name: str) -> Any:
        table = self._con.table(name)
        if "customer_id" in table.columns:
            return self.only_sampled(table)
        if name == "order_lines":
            orders = self.table("orders").select("order_id")
            return table.semi_join(orders, "order_id")
        return table

    def close(self) -> None:
        """Drop the sample's temporary view (on engines other than DuckDB)."""
        if self._view is not None:
            # (Ibis's drop_view compiles "DROP VIEW IF EXISTS" without the name on Spark.)
            self._con.raw_sql(f"DROP VIEW IF EXISTS {self._view}")
            self._view = None

    def only_sampled(self, table: Any) -> Any:
        """``table`` (with a ``customer_id`` column) semi-joined with the sample."""
        ids = self.customers
        return table.semi_join(ids, table.customer_id.cast("string") == ids.customer_id)
