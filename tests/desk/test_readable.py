"""Records in words (winback.desk.readable): the audit page offers every kind of entry the
desk writes, and changes read as phrases."""

from __future__ import annotations

import ast
from pathlib import Path

from winback.desk import readable

SOURCE = Path(readable.__file__).resolve().parents[1]


def _kinds_written() -> set[str]:
    """The entity of every ``audit.record(db, actor, action, ENTITY, ...)`` call and every
    ``"entity": ...`` of ``audit.record_many`` rows in the package."""
    kinds: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "record"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "audit"
            ):
                entity = node.args[3]
                assert isinstance(entity, ast.Constant), f"{path}:{node.lineno}: name the kind"
                kinds.add(entity.value)
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    named = isinstance(key, ast.Constant) and key.value == "entity"
                    if named and isinstance(value, ast.Constant):
                        kinds.add(value.value)
    return kinds


def test_the_audit_page_offers_every_kind_of_entry_the_desk_writes() -> None:
    written = _kinds_written()
    assert {"case", "user", "red_carpet", "concession", "customer"} <= written
    assert written - set(readable.AUDIT_KINDS) == set()


def test_changes_read_as_phrases_with_names() -> None:
    who = readable.People({2: "Ana Diaz"}, {"ana": "Ana Diaz"}, {"S1": "Sam"})
    assert readable.change_phrases({"owner_id": None}, {"owner_id": 2}, who) == [
        "assigned to Ana Diaz"
    ]
    assert readable.change_phrases(
        {"state": "working", "outcome": None},
        {"state": "closed", "outcome": "won_back", "contacted": True},
        who,
    ) == ["closed: won back"]
    assert readable.change_phrases(
        {"expected_value": 500.0}, {"expected_value": 620.0}, who, lambda v: f"€{v:,.0f}"
    ) == ["expected value €500 → €620"]
    assert (who.staff("S1"), who.staff("S00001"), who.user(9)) == (
        "Sam",
        "staff S00001",
        "user 9",
    )
