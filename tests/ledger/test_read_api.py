"""The ledger's read API: every question another room asks of the ledger, answered on a
small ledger written by hand, and a scan of the source holding that no other room asks
the ledger anything directly."""

from __future__ import annotations

import ast
import re
from datetime import date, datetime
from pathlib import Path

import pytest

from tests.conftest import run_winback
from winback.ledger import reads, timeline
from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger

SRC = Path(__file__).resolve().parents[2] / "src" / "winback"
# The rooms that may open the ledger themselves: the ledger, and the scan (which builds
# its features as Ibis expressions over the ledger's tables).
ALLOWED = ("ledger", "scan")
_LEDGER_SQL = re.compile(
    r"\b(?:FROM|JOIN)\s+\"?(" + "|".join(sorted(TABLES, key=len, reverse=True)) + r")\b\"?",
    re.IGNORECASE,
)


def _text_of(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's literal parts joined."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
    return None


def _receiver(node: ast.expr) -> str:
    """The last name of what a method is called on: ``app.state.ledger`` gives ``ledger``."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def ledger_reads_outside(path: Path, root: Path) -> list[str]:
    """``file:line: what`` for each direct read of the ledger in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(root)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [(line, f"imports {a.name}") for a in node.names if a.name == "duckdb"]
        elif isinstance(node, ast.ImportFrom) and node.module == "duckdb":
            found.append((line, "imports from duckdb"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("connect", "ibis", "cursor")
            and any(word in _receiver(node.func.value).lower() for word in ("ledger", "timeline"))
        ):
            found.append((line, f"calls {_receiver(node.func.value)}.{node.func.attr}()"))
        else:
            text = _text_of(node)
            if text and "SELECT" in text.upper() and (match := _LEDGER_SQL.search(text)):
                found.append((line, f"SQL over the ledger's {match.group(1)} table"))
    # An f-string's parts are walked on their own too: one finding per line and kind.
    return [f"{where}:{line}: {what}" for line, what in sorted(set(found))]


def ledger_reads_in(root: Path) -> list[str]:
    """Every direct read of the ledger under ``root`` outside the rooms allowed one."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] not in ALLOWED:
            found += ledger_reads_outside(path, root)
    return found


def test_no_room_but_ledger_and_scan_reads_the_ledger_directly() -> None:
    assert ledger_reads_in(SRC) == []


def test_the_source_scan_names_file_and_line_of_each_direct_read(tmp_path: Path) -> None:
    room = tmp_path / "desk"
    room.mkdir()
    (room / "bad.py").write_text(
        "import duckdb\n"
        "def f(app, ledger):\n"
        "    con = app.state.ledger.connect()\n"
        "    con.sql('SELECT name FROM customers WHERE customer_id = 1')\n"
        "    where = 'x'\n"
        "    return ledger.connect().sql(f'SELECT * FROM \"orders\" WHERE {where}')\n",
        encoding="utf-8",
    )
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "fine.py").write_text(
        "import duckdb\nq = 'SELECT 1 FROM orders'\n", encoding="utf-8"
    )
    # A desk table and prose about orders are not ledger reads.
    (room / "fine.py").write_text(
        "q = 'SELECT id FROM cases'\n'''Revenue from orders since the win-back.'''\n",
        encoding="utf-8",
    )

    assert ledger_reads_in(tmp_path) == [
        "desk/bad.py:1: imports duckdb",
        "desk/bad.py:3: calls ledger.connect()",
        "desk/bad.py:4: SQL over the ledger's customers table",
        "desk/bad.py:6: SQL over the ledger's orders table",
        "desk/bad.py:6: calls ledger.connect()",
    ]


# --- a small ledger, by hand --------------------------------------------------------------


def _import(ledger: Ledger, folder: Path, table: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{table}-{len(list(folder.glob('*.csv')))}.csv"
    path.write_text(text, encoding="utf-8")
    result = import_file(ledger, table, path, rejects_dir=folder / "rejects")
    assert result.rejected == 0, result.rejects


ORDERS = (
    "order_id,customer_id,order_date,amount,status,staff_id\n"
    "o1,c1,2023-01-10,100,completed,s1\n"  # more than 365 days before c1's last order
    "o2,c1,2023-06-01,40,completed,s2\n"
    "o3,c1,2023-09-01,60,,s2\n"  # a blank status counts
    "o4,c1,2024-03-01,20,pending,\n"  # c1's last counted order
    "o5,c1,2024-04-01,500,refunded,s1\n"  # refunded: not counted
    "o6,c1,2024-05-01,700,cancelled,\n"  # cancelled: not counted
    "o7,c2,2024-02-02,30,completed,s1\n"
    "o8,c2,2024-02-02,5,completed,\n"  # the same day as o7: c2 bought on one day
)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger(tmp_path / "ws" / "ledger")
    files = tmp_path / "files"
    _import(
        ledger,
        files,
        "customers",
        "customer_id,name,owner_staff_id\nc1,Acme Ltd,s9\nc2,Bolt & Co,\n",
    )
    _import(ledger, files, "orders", ORDERS)
    _import(
        ledger,
        files,
        "staff",
        "staff_id,name,role\ns2,Bea Rep,rep\ns1,Al Boss,manager\n",
    )
    _import(
        ledger,
        files,
        "interactions",
        "interaction_id,customer_id,occurred_at,channel,staff_id\n"
        "i1,c1,2024-04-05 10:00:00,call,s1\n"
        "i2,c2,2024-02-03 09:00:00,email,\n",
    )
    _import(
        ledger,
        files,
        "incidents",
        "incident_id,customer_id,occurred_on,type,resolved_on,description\n"
        "n1,c1,2024-01-05,late_delivery,2024-01-09,parcel late\n"
        "n2,c1,2023-12-01,wrong_item,,arrived broken\n"
        "n3,c1,2024-04-10,billing_error,2024-04-11,charged twice\n",
    )
    return ledger


def test_staff_are_listed_by_staff_id(ledger: Ledger) -> None:
    assert reads.staff(ledger) == [("s1", "Al Boss", "manager"), ("s2", "Bea Rep", "rep")]


def test_contact_history_counts_orders_and_interactions_per_staff_member(
    ledger: Ledger,
) -> None:
    contacts, owners = reads.contact_history(ledger, ["c1", "c2", "nobody"])

    # s1 took o1 and o5 and made call i1; s2 took o2 and o3.
    assert contacts["c1"] == [
        reads.StaffContact("s1", date(2024, 4, 5), 3),
        reads.StaffContact("s2", date(2023, 9, 1), 2),
    ]
    assert contacts["c2"] == [reads.StaffContact("s1", date(2024, 2, 2), 1)]
    assert "nobody" not in contacts
    assert owners == {"c1": "s9"}


def test_value_before_is_counted_revenue_in_the_year_to_the_last_counted_order(
    ledger: Ledger,
) -> None:
    # c1's last counted order is o4 (2024-03-01): o2 + o3 + o4 = 40 + 60 + 20; o1 is older
    # than a year before it, the refunded and cancelled orders do not count.
    assert reads.values_before(ledger, ["c1", "c2"]) == {"c1": 120.0, "c2": 35.0}


def test_revenue_in_windows_counts_only_counted_orders_in_each_window(ledger: Ledger) -> None:
    windows = [
        reads.RevenueWindow(1, "c1", date(2023, 6, 1), date(2024, 3, 1)),  # o2 + o3
        reads.RevenueWindow(2, "c1", date(2024, 3, 1), None),  # o4; o5, o6 not counted
        reads.RevenueWindow(3, "c2", date(2024, 3, 1), None),  # nothing
    ]
    assert reads.revenue_in_windows(ledger, windows) == {1: 100.0, 2: 20.0}


def test_happenings_since_leave_out_refunded_and_cancelled_orders(ledger: Ledger) -> None:
    since = [("c1", datetime(2024, 3, 1, 12, 0))]

    with_incidents = reads.happenings_since(ledger, since, incidents=True)
    without = reads.happenings_since(ledger, since, incidents=False)

    assert [(h.kind, h.ref, h.at, h.detail) for h in with_incidents] == [
        ("order", "order:o4", datetime(2024, 3, 1), None),  # the same day counts
        ("interaction", "interaction:i1", datetime(2024, 4, 5, 10, 0), None),
        ("incident", "incident:n3", datetime(2024, 4, 10), "billing_error"),
    ]
    assert [h.ref for h in without] == ["order:o4", "interaction:i1"]


def test_customer_timeline_gives_the_profile_and_newest_events_of_each_kind(
    ledger: Ledger,
) -> None:
    profile, events = reads.customer_timeline(ledger, "c1", limit=2)

    assert profile is not None
    assert (profile["name"], profile["owner_staff_id"]) == ("Acme Ltd", "s9")
    assert [(e.kind, e.ref) for e in events] == [
        ("order", "o6"),
        ("order", "o5"),
        ("incident", "n3"),
        ("incident", "n1"),
        ("interaction", "i1"),
    ]
    assert events[1].summary == "order o5 for 500.00"
    assert (events[1].who, events[1].detail) == ("s1", "refunded")
    assert events[2].summary == "billing_error (severity ?), resolved"
    assert reads.customer_timeline(ledger, "nobody") == (None, [])


def test_latest_incidents_put_the_unresolved_first(ledger: Ledger) -> None:
    incidents = reads.latest_incidents(ledger, "c1", limit=2)

    assert [(i["type"], i["occurred_on"], i["resolved_on"]) for i in incidents] == [
        ("wrong_item", date(2023, 12, 1), None),
        ("billing_error", date(2024, 4, 10), date(2024, 4, 11)),
    ]


def test_summary_counts_rows_and_only_the_counted_orders(ledger: Ledger) -> None:
    held = reads.summary(ledger)

    assert held.tables["orders"] == (8, 1)
    assert held.tables["staff"] == (2, 1)
    assert held.orders == reads.OrdersSummary(
        first=date(2023, 1, 10),
        last=date(2024, 3, 1),
        orders=6,
        customers=2,
        revenue=255.0,  # 100 + 40 + 60 + 20 + 30 + 5
        repeaters=1,  # c1; c2 bought twice on one day
        not_counted=2,
    )


def test_no_ledger_or_an_empty_one_answers_empty(tmp_path: Path) -> None:
    empty = Ledger(tmp_path / "nothing")
    for ledger in (None, empty):
        assert reads.staff(ledger) == []
        assert reads.contact_history(ledger, ["c1"]) == ({}, {})
        assert reads.values_before(ledger, ["c1"]) == {}
        window = reads.RevenueWindow(1, "c1", date.min, None)
        assert reads.revenue_in_windows(ledger, [window]) == {}
        assert reads.happenings_since(ledger, [("c1", datetime.min)], incidents=True) == []
        assert reads.customer_timeline(ledger, "c1") == (None, [])
        assert reads.latest_incidents(ledger, "c1") == []
    assert reads.summary(empty) == reads.LedgerSummary()


def test_winback_ledger_reports_the_counted_orders_and_their_revenue(
    ledger: Ledger, tmp_path: Path
) -> None:
    done = run_winback("ledger", env={"WINBACK_HOME": str(tmp_path / "ws")}, timeout=60)

    assert done.returncode == 0, done.stderr
    assert (
        "orders from 2023-01-10 to 2024-03-01: 6 counted orders by 2 customers, revenue "
        "255.00 (2 cancelled or refunded, not counted); 1 customers (50.0%) bought on more "
        "than one day"
    ) in " ".join(done.stdout.split())


def test_the_customer_sorted_copy_gives_the_same_timeline_as_the_ledger(
    ledger: Ledger, tmp_path: Path
) -> None:
    # The copy holds only the columns the timeline's queries read: every query (each of
    # the eight kinds, whether the customer has rows of it or not) must still bind.
    root = tmp_path / "timeline"
    assert timeline.build(root, ledger) is not None
    reader = timeline.TimelineReader(root)
    assert reader.cursor(ledger) is not None
    for customer in ("c1", "c2", "nobody"):
        through_copy = reads.customer_timeline(ledger, customer, reader)
        assert through_copy == reads.customer_timeline(ledger, customer)
        assert reads.customer_profile(ledger, customer, reader) == through_copy[0]
    assert reads.customer_timeline(ledger, "c1", reader)[1]
