"""The policy file: one typed object, every section validated at load, documented and
printed from the code."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import run_winback
from winback.errors import PolicyError
from winback.policy import (
    Assignment,
    CaseTier,
    Odds,
    Policy,
    RedCarpet,
    default_toml,
    load_policy,
    render_markdown,
    to_toml,
)
from winback.scan.runs import TIERS

ROOT = Path(__file__).resolve().parents[1]


def _load(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return load_policy(path)


def _problem(tmp_path: Path, text: str) -> str:
    with pytest.raises(PolicyError) as info:
        _load(tmp_path, text)
    return str(info.value)


def test_keys_left_out_keep_their_defaults(tmp_path: Path) -> None:
    policy = _load(
        tmp_path,
        "[lapse]\ncycle_multiple = 2.5\n[odds]\nsegment_prior_means = {vip = 0.4}\n"
        '[assignment]\ncase_tiers = ["executive"]\n',
    )

    assert policy.lapse.cycle_multiple == 2.5
    assert policy.lapse.no_purchase_months == 6
    assert policy.odds.segment_prior_means == {"vip": 0.4}
    assert policy.assignment == Assignment(case_tiers=["executive"], recent_days=180)


def test_bad_value_and_misspelt_key_name_section_and_key(tmp_path: Path) -> None:
    message = _problem(tmp_path, "[lapse]\ncycle_multiple = 0.5\nno_purchase_month = 6\n")

    assert "[lapse] cycle_multiple: Input should be greater than 1" in message
    assert "[lapse] no_purchase_month: not a policy key (misspelt?)" in message


def test_assignment_is_validated_at_load_naming_the_key(tmp_path: Path) -> None:
    message = _problem(
        tmp_path,
        '[assignment]\nrecent_days = -1\nfallback_role = "admin"\n'
        'case_tiers = ["executive", "vip"]\nrecent_dayz = 30\n',
    )

    assert message.startswith(f"{tmp_path / 'policy.toml'}: ")
    assert "[assignment] recent_days: Input should be greater than or equal to 0" in message
    assert "[assignment] fallback_role: Input should be 'executive', 'manager' or 'rep'" in message
    assert "[assignment] case_tiers[1]: Input should be 'executive', 'rep' or 'campaign'" in message
    assert "[assignment] recent_dayz: not a policy key (misspelt?)" in message


def test_a_misspelt_section_is_named_with_the_sections_there_are(tmp_path: Path) -> None:
    message = _problem(tmp_path, "[asignment]\nrecent_days = 30\n")

    assert "[asignment]: not a policy section (misspelt?)" in message
    assert "assignment" in message.split("the sections are ")[1]


def test_the_policys_case_tiers_are_the_scans_tiers_that_can_be_worked() -> None:
    assert set(get_args(CaseTier)) == set(TIERS) - {"none"}


def test_default_file_is_complete_and_loads_to_the_defaults(tmp_path: Path) -> None:
    text = default_toml()

    assert _load(tmp_path, text) == Policy()
    parsed = tomllib.loads(text)
    assert set(parsed) == set(Policy.model_fields)
    for section, values in Policy().model_dump().items():
        assert set(parsed[section]) == set(values), section
    assert parsed["assignment"]["case_tiers"] == ["executive", "rep"]


def test_a_policy_prints_as_a_file_that_loads_back_equal(tmp_path: Path) -> None:
    policy = Policy(
        odds=Odds(segment_prior_means={"Big Co": 0.4, "vip": 1e-05, 'say "hi"': 0.2}),
        red_carpet=RedCarpet(
            order_gesture='a "thank you" card \\ and a call\n', appreciation_days=[]
        ),
        assignment=Assignment(case_tiers=["campaign"], fallback_role="manager"),
    )

    text = to_toml(policy)

    assert 'case_tiers = ["campaign"]' in text
    assert _load(tmp_path, text) == policy


@given(st.lists(st.text()), st.text())
def test_any_text_and_list_of_text_round_trips_through_toml(words: list[str], word: str) -> None:
    from winback.policy import _toml_value

    parsed = tomllib.loads(f"a = {_toml_value(words)}\nb = {_toml_value(word)}\n")

    assert parsed == {"a": words, "b": word}


def test_policy_doc_is_generated_from_the_code() -> None:
    written = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
    assert written == render_markdown(), "run `uv run winback policy --markdown > docs/policy.md`"


def test_policy_doc_documents_every_key_of_every_section() -> None:
    doc = render_markdown()
    for section, values in Policy().model_dump().items():
        assert f"## [{section}]" in doc
        part = doc.split(f"## [{section}]")[1].split("\n## ")[0]
        for key in values:
            assert f"| `{key}` |" in part, f"[{section}] {key}"


def test_nothing_in_the_desk_reads_the_policy_file_itself() -> None:
    readers = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "src" / "winback" / "desk").rglob("*.py")
        if any(name in path.read_text(encoding="utf-8") for name in ("read_policy", "load_policy"))
    ]
    assert readers == []


# --- the command --------------------------------------------------------------------------


def test_policy_defaults_command_prints_a_file_that_loads_to_the_defaults(
    tmp_path: Path,
) -> None:
    done = run_winback("policy", "--defaults", env={"WINBACK_HOME": str(tmp_path / "ws")})

    assert done.returncode == 0, done.stderr
    assert "[assignment]" in done.stdout
    assert _load(tmp_path, done.stdout) == Policy()


def test_policy_check_names_a_bad_key_in_assignment_and_in_red_carpet(tmp_path: Path) -> None:
    env = {"WINBACK_HOME": str(tmp_path / "ws")}
    bad_assignment = tmp_path / "a.toml"
    bad_assignment.write_text('[assignment]\nfallback_rol = "rep"\n', encoding="utf-8")
    bad_carpet = tmp_path / "r.toml"
    bad_carpet.write_text("[red_carpet]\nexperiences = 0\n", encoding="utf-8")

    first = run_winback("policy", "--check", str(bad_assignment), env=env)
    second = run_winback("policy", "--check", str(bad_carpet), env=env)

    assert first.returncode == 2
    assert "[assignment] fallback_rol: not a policy key (misspelt?)" in first.stderr
    assert second.returncode == 2
    assert "[red_carpet] experiences: Input should be greater than 0" in second.stderr
    assert "Traceback" not in first.stderr + second.stderr


def test_policy_check_prints_the_whole_policy_as_a_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[assignment]\ncase_tiers = ["executive"]\nrecent_days = 30\n')

    done = run_winback("policy", "--check", str(path), env={"WINBACK_HOME": str(tmp_path / "w")})

    assert done.returncode == 0, done.stderr
    assert "a valid policy" in done.stderr
    assert _load(tmp_path, done.stdout) == load_policy(path)
    assert tomllib.loads(done.stdout)["assignment"]["recent_days"] == 30
