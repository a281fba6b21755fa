"""The assignment rules, as a pure function."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import get_args

from winback.desk.assignment import Candidate, Contact, choose_owner
from winback.desk.models import WORK_ROLES
from winback.policy import Assignment, HolderRole, load_policy

AS_OF = date(2024, 7, 1)
USERS = [
    Candidate(1, "rep", "s1"),
    Candidate(2, "rep", "s2"),
    Candidate(3, "executive", "x1"),
    Candidate(4, "executive", "x2"),
    Candidate(5, "manager", "m1"),
]


def _choose(policy: Assignment | None = None, **kwargs: object) -> tuple[int | None, str]:
    options: dict[str, object] = {
        "tier": "rep",
        "as_of": AS_OF,
        "contacts": [],
        "account_owner": None,
        "users": USERS,
        "load": {},
    }
    options.update(kwargs)
    return choose_owner(policy or Assignment(), **options)  # type: ignore[arg-type]


def test_executive_tier_goes_to_the_least_busy_executive() -> None:
    assert _choose(tier="executive", load={3: 5, 4: 2})[0] == 4


def test_executive_tier_prefers_the_executive_who_knows_the_customer() -> None:
    contacts = [Contact("x1", date(2024, 6, 1), 1), Contact("s1", date(2024, 6, 20), 9)]
    assert _choose(tier="executive", contacts=contacts, load={3: 5})[0] == 3


def test_account_owner_comes_before_contacts() -> None:
    contacts = [Contact("s2", date(2024, 6, 1), 4)]
    assert _choose(account_owner="s1", contacts=contacts) == (1, "account owner")


def test_recent_contact_beats_frequent_old_contact() -> None:
    contacts = [Contact("s1", date(2024, 5, 1), 1), Contact("s2", date(2023, 1, 1), 20)]
    assert _choose(contacts=contacts)[0] == 1


def test_without_recent_contact_the_most_frequent_wins() -> None:
    contacts = [Contact("s1", date(2023, 5, 1), 1), Contact("s2", date(2022, 1, 1), 20)]
    assert _choose(contacts=contacts) == (2, "dealt with the customer most (20 times)")


def test_staff_who_are_not_desk_users_are_passed_over() -> None:
    contacts = [Contact("gone", date(2024, 6, 30), 50)]
    assert _choose(contacts=contacts, load={1: 3, 2: 1}) == (2, "least-busy rep")


def test_nobody_to_assign_leaves_the_case_for_a_manager() -> None:
    assert _choose(users=[])[0] is None


def test_the_policy_files_section_is_what_choose_owner_applies(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        '[assignment]\nrecent_days = 30\nexecutive_tier = "manager"\n'
        'fallback_role = "executive"\nprefer_account_owner = false\n'
    )
    section = load_policy(path).assignment
    # The executive tier goes to the least-busy manager, not an executive.
    assert _choose(section, tier="executive") == (5, "executive tier; least-busy manager")
    # 40 days ago is not recent under recent_days = 30: the most frequent contact wins.
    contacts = [Contact("s1", date(2024, 5, 22), 1), Contact("s2", date(2023, 1, 1), 20)]
    assert _choose(section, contacts=contacts)[0] == 2
    assert _choose(contacts=contacts)[0] == 1  # the default 180 days: the recent one
    # The account owner is passed over; nobody dealt with the customer: an executive.
    assert _choose(section, account_owner="s1", load={3: 1}) == (4, "least-busy executive")


def test_the_policys_holder_roles_are_the_desks() -> None:
    assert set(get_args(HolderRole)) == set(WORK_ROLES)
