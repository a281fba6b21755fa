"""Finding a customer: by name with typos, e-mail, phone in any format and part of the id,
through the index and through the ledger scan it falls back to; bad queries refused
clearly; the open case and status shown."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run
from winback.desk import search
from winback.desk.matching import fold
from winback.desk.models import User
from winback.desk.sync import sync_cases
from winback.errors import InvalidInput, PermissionDenied
from winback.ledger import customer_rows
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger

CUSTOMERS = """customer_id,name,email,phone
C-0001,John Smith,john.smith@example.com,+1 (555) 010-2000
C-0002,Jane Smythe,jane@example.org,555 010 3000
C-0003,Jonas Smallwood,js@example.net,
C-0104,Zoë Ångström,zoe@acme.io,+44 20 7946 0000
C-0105,Johan Smit,jsmit@example.com,020 7946 1111
X-9000,Percy O'Brien,percy_100%@example.com,
"""


def _ledger(tmp_path: Path, text: str = CUSTOMERS) -> Ledger:
    ledger = Ledger(tmp_path / "ledger")
    path = tmp_path / "customers.csv"
    path.write_text(text, encoding="utf-8")
    result = import_file(ledger, "customers", path, rejects_dir=tmp_path / "rejects")
    assert result.rejected == 0, result.rejects
    return ledger


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ledger, search.SearchIndex]:
    home = tmp_path_factory.mktemp("search")
    ledger = _ledger(home)
    folder = search.build(search.root_of(home), ledger, None)
    assert folder is not None
    return ledger, search.SearchIndex(folder)


WAYS = ["index", "scan"]


def find(built: tuple[Ledger, search.SearchIndex], way: str, text: str) -> list[search.Hit]:
    ledger, index = built
    query = search.parse(text)
    return index.search(query, 20) if way == "index" else search.scan_ledger(ledger, query, 20)


def ids(hits: list[search.Hit]) -> list[str]:
    return [h.customer_id for h in hits]


def test_each_trigram_lists_exactly_the_rows_holding_it(
    built: tuple[Ledger, search.SearchIndex],
) -> None:
    """The postings, read back per row, are each row's trigrams of its folded name, e-mail
    local part, id and phone digits, computed here one row at a time in plain Python."""
    _, index = built
    expected: dict[int, set[int]] = {}
    for row, r in enumerate(index.rows.to_pylist()):
        hay = fold(" ".join(str(r[k]) for k in ("name", "local", "customer_id", "digits") if r[k]))
        for key in search.trigram_keys(hay):
            expected.setdefault(key, set()).add(row)
    found: dict[int, list[int]] = {}
    for key in range(len(index.offsets) - 1):
        a, b = int(index.offsets[key]), int(index.offsets[key + 1])
        if b > a:
            found[key] = index.postings[a:b].tolist()
    assert found == {key: sorted(rows) for key, rows in expected.items()}
    assert len(index.postings) == sum(len(rows) for rows in expected.values()) > 50


@pytest.mark.parametrize("piece", [1, 2, 5, 7])
def test_the_postings_worked_out_in_pieces_are_the_whole_ones(piece: int) -> None:
    """Pieces of any size (texts split across them, empty and one-letter texts, a text
    holding a trigram twice) give the offsets and postings of one piece."""
    texts = [" john smith c 0001 ", " ", " aaaa aaaa ", "", " jane c 0002 555 ", " x ", " zz "]
    hay = pa.chunked_array([texts[:3], texts[3:]])
    whole = customer_rows.postings_of(hay, piece=len(texts))
    pieced = customer_rows.postings_of(hay, piece=piece)
    assert np.array_equal(whole[0], pieced[0])
    assert np.array_equal(whole[1], pieced[1])
    assert pieced[1].dtype == np.uint32
    assert len(whole[1]) == whole[0][-1] > 20
    # Each key's rows ascending, each row once.
    for key in np.flatnonzero(np.diff(whole[0])):
        rows = whole[1][whole[0][key] : whole[0][key + 1]]
        assert np.all(np.diff(rows.astype(np.int64)) > 0)


@pytest.mark.parametrize("text", ["Jonh Smiht", "jonh smiht", "Smith John", "john smth"])
def test_a_misspelt_name_finds_the_customer_first(
    built: tuple[Ledger, search.SearchIndex], text: str
) -> None:
    assert ids(find(built, "index", text))[0] == "C-0001"


def test_accents_and_case_do_not_matter(built: tuple[Ledger, search.SearchIndex]) -> None:
    assert ids(find(built, "index", "zoe angstrom"))[0] == "C-0104"
    assert ids(find(built, "index", "ZOË ÅNGSTRÖM"))[0] == "C-0104"


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    "text",
    ["+1 (555) 010-2000", "555.010.2000", "5550102000", "(555) 0102000", "15550102000"],
)
def test_a_phone_number_in_any_format_finds_its_customer(
    built: tuple[Ledger, search.SearchIndex], way: str, text: str
) -> None:
    hits = find(built, way, text)
    assert ids(hits)[0] == "C-0001"
    assert hits[0].score == 100.0
    assert "C-0002" not in ids(hits)  # 555 010 3000: a different number


@pytest.mark.parametrize("way", WAYS)
def test_part_of_an_id_finds_it_any_case(
    built: tuple[Ledger, search.SearchIndex], way: str
) -> None:
    assert ids(find(built, way, "0104"))[0] == "C-0104"
    assert ids(find(built, way, "c-0104"))[0] == "C-0104"
    # A prefix shared by several ids finds them all, the exact id before the others.
    assert set(ids(find(built, way, "c-01"))) >= {"C-0104", "C-0105"}
    assert ids(find(built, way, "C-0001"))[0] == "C-0001"


@pytest.mark.parametrize("way", WAYS)
def test_an_email_finds_its_customer_in_any_case(
    built: tuple[Ledger, search.SearchIndex], way: str
) -> None:
    hits = find(built, way, "JANE@EXAMPLE.ORG")
    assert ids(hits)[0] == "C-0002"
    assert hits[0].score == 100.0


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("text", ["C-000%", "c_0001", "%smith%", "o'brien", 'john "smith"'])
def test_wildcards_and_quotes_are_plain_characters(
    built: tuple[Ledger, search.SearchIndex], way: str, text: str
) -> None:
    hits = find(built, way, text)
    if text == "C-000%":  # no id holds a "%": nothing matches the id as a pattern would
        assert not any(h.score >= 90 for h in hits)
    elif text == "o'brien":
        assert ids(hits)[0] == "X-9000"
    elif text == "c_0001":
        assert "C-0001" not in [h.customer_id for h in hits if h.score >= 93]


@pytest.mark.parametrize("text", ["", "   ", "%", "_", "'", '"', "%_'\"", "x", "--", "é"])
def test_an_empty_or_symbol_only_query_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput, match="q: give at least 2 letters or digits"):
        search.parse(text)


def test_a_10k_character_query_is_refused_not_cut() -> None:
    with pytest.raises(InvalidInput, match="q: the search is 10000 characters long"):
        search.parse("a" * 10_000)


def test_someone_nobody_resembles_finds_nobody(
    built: tuple[Ledger, search.SearchIndex],
) -> None:
    assert find(built, "index", "Quxzyv Wqrtp") == []


def test_the_index_is_rebuilt_for_a_new_scan_run_and_skipped_when_current(
    tmp_path: Path,
) -> None:
    ledger = _ledger(tmp_path)
    root = search.root_of(tmp_path)
    folder = search.build(root, ledger, None)
    assert folder is not None
    built_at = (folder / "postings.npy").stat().st_mtime_ns
    assert search.build(root, ledger, None) == folder
    assert (folder / "postings.npy").stat().st_mtime_ns == built_at  # nothing rewritten
    run = make_run(tmp_path / "runs", [{"customer_id": "C-0002", "status": "lost"}])
    search.build(root, ledger, run)
    index = search.SearchIndex(folder)
    assert index.search(search.parse("C-0002"), 5)[0].status == "lost"


def test_search_reads_the_ledger_while_the_index_is_stale(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    ledger = _ledger(tmp_path)
    reader = search.SearchReader(search.root_of(tmp_path))
    search.build(reader.root, ledger, None)
    rep = people["rep"]
    assert reader.index(ledger) is not None
    later = tmp_path / "later.csv"
    later.write_text("customer_id,name\nC-0200,Newton Late\n", encoding="utf-8")
    import_file(ledger, "customers", later, rejects_dir=tmp_path / "rejects")
    assert reader.index(ledger) is None  # the index is of the ledger before the import
    hits = search.search_customers(db, rep, "newton late", ledger=ledger, reader=reader)
    assert ids(hits) == ["C-0200"]


def test_results_carry_the_open_case_and_its_status(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    ledger = _ledger(tmp_path)
    run = make_run(
        tmp_path / "runs",
        [
            {"customer_id": "C-0001", "rank": 1, "status": "lapsed"},
            {"customer_id": "C-0105", "rank": None, "status": "active"},
        ],
    )
    sync_cases(db, None, run, policy=POLICY)
    reader = search.SearchReader(search.root_of(tmp_path))
    search.build(reader.root, ledger, run)
    hits = search.search_customers(db, people["rep"], "Jonh Smiht", ledger=ledger, reader=reader)
    first = hits[0]
    assert (first.customer_id, first.status) == ("C-0001", "lapsed")
    assert first.open_case_id is not None
    johan = next(h for h in hits if h.customer_id == "C-0105")
    assert (johan.status, johan.open_case_id) == ("active", None)


def test_a_deactivated_user_may_not_search(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    people["rep"].active = False
    db.commit()
    with pytest.raises(PermissionDenied):
        search.search_customers(db, people["rep"], "john", ledger=None)


def test_a_new_run_keeps_the_trigrams_and_gives_what_a_fresh_build_gives(
    tmp_path: Path,
) -> None:
    ledger = _ledger(tmp_path)
    root = search.root_of(tmp_path)
    runs = tmp_path / "runs"
    first = search.build(
        root, ledger, make_run(runs, [{"customer_id": "C-0002", "status": "lost"}])
    )
    assert first is not None
    postings = (first / "postings.npy").stat().st_ino
    later = make_run(runs, [{"customer_id": "C-0001", "status": "lapsed"}])
    folder = search.build(root, ledger, later)
    assert folder is not None
    # The same customers: the trigram files are the first build's, not written again.
    assert (folder / "postings.npy").stat().st_ino == postings
    fresh = search.build(tmp_path / "fresh", ledger, later)
    assert fresh is not None
    kept, made = search.SearchIndex(folder), search.SearchIndex(fresh)
    assert kept.rows.equals(made.rows)
    assert (kept.offsets == made.offsets).all()
    assert (kept.postings == made.postings).all()
    rows = kept.rows.to_pylist()
    statuses = {row["customer_id"]: row["status"] for row in rows}
    assert statuses["C-0001"] == "lapsed"
    assert statuses["C-0002"] is None
    # A customers import changes what the rows are made of: built afresh, and it finds them.
    more = tmp_path / "more.csv"
    more.write_text("customer_id,name\nC-0300,Quentin Newcomb\n", encoding="utf-8")
    import_file(ledger, "customers", more, rejects_dir=tmp_path / "rejects")
    rebuilt = search.build(root, ledger, later)
    assert rebuilt is not None
    assert (rebuilt / "postings.npy").stat().st_ino != postings
    assert ids(search.SearchIndex(rebuilt).search(search.parse("quentin newcomb"), 5)) == ["C-0300"]


def test_an_index_swept_away_mid_build_is_built_afresh_not_written_through_its_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another build (a second sync's refresh) publishes meanwhile and sweeps the index
    # this build links from: after its first trigram file is linked, the rest are gone.
    ledger = _ledger(tmp_path)
    root = search.root_of(tmp_path)
    runs = tmp_path / "runs"
    assert search.build(root, ledger, make_run(runs, [])) is not None
    later = make_run(runs, [{"customer_id": "C-0001", "status": "lapsed"}])
    real_link, held = os.link, []

    def link(source: Path, target: Path) -> None:
        real_link(source, target)
        if not held:
            held.append((open(source, "rb"), Path(source).read_bytes()))  # noqa: SIM115
            shutil.rmtree(Path(source).parent)

    monkeypatch.setattr(os, "link", link)
    folder = search.build(root, ledger, later)
    monkeypatch.undo()

    assert folder is not None
    fresh = search.build(tmp_path / "fresh", ledger, later)
    assert fresh is not None
    kept, made = search.SearchIndex(folder), search.SearchIndex(fresh)
    assert kept.rows.equals(made.rows)
    assert (kept.postings == made.postings).all()
    first, before = held[0]
    with first:
        assert first.read() == before  # the linked file was never written through
