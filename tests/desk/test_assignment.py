"""The assignment rules, as a pure function."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import get_args

from winback.desk.assignment import Candidate, Chooser, Contact, choose_owner
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


def test_choosing_many_in_a_row_matches_choosing_each_with_the_load_so_far() -> None:
    """winback sync's Chooser (heaps updated as cases are given out) picks, case after
    case, what choose_owner picks from scratch given every earlier choice in the load."""
    rng = random.Random(16)
    roles = ["rep", "rep", "rep", "executive", "manager", "service"]
    users = [Candidate(i, rng.choice(roles), f"s{i}" if i % 3 else None) for i in range(1, 40)]
    staff = [f"s{i}" for i in range(1, 45)]  # some staff are no desk user
    policy = Assignment(recent_days=30)
    start = {u.user_id: rng.randrange(4) for u in users if rng.random() < 0.5}
    wanted = [
        (
            rng.choice(["rep", "executive", None, "campaign"]),
            [
                Contact(rng.choice(staff), date(2024, rng.randrange(1, 7), 1), rng.randrange(1, 9))
                for _ in range(rng.randrange(3))
            ],
            rng.choice([None, *staff[:10]]),
        )
        for _ in range(2000)
    ]
    chooser = Chooser(policy, AS_OF, users, start)
    load = dict(start)
    picked_by_reason = set()
    for tier, contacts, owner in wanted:
        expected = choose_owner(
            policy,
            tier=tier,
            as_of=AS_OF,
            contacts=contacts,
            account_owner=owner,
            users=users,
            load=load,
        )
        got = chooser.choose(tier, contacts, owner)
        assert got == expected
        if got[0] is not None:
            chooser.take(got[0])
            load[got[0]] = load.get(got[0], 0) + 1
        picked_by_reason.add(got[1].split(";")[0].split(",")[0])
    # The draw exercised the least-busy rule, the account owner and the staff who dealt.
    assert {"least-busy rep", "account owner", "executive tier"} <= picked_by_reason
    assert chooser.load == load
