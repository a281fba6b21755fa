from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from winback.policy import Policy, PolicyError, default_toml, load_policy, render_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_keys_left_out_keep_their_defaults(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[lapse]\ncycle_multiple = 2.5\n[odds]\nsegment_prior_means = {vip = 0.4}\n")

    policy = load_policy(path)

    assert policy.lapse.cycle_multiple == 2.5
    assert policy.lapse.no_purchase_months == 6
    assert policy.odds.segment_prior_means == {"vip": 0.4}


def test_bad_value_and_misspelt_key_name_section_and_key(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[lapse]\ncycle_multiple = 0.5\nno_purchase_month = 6\n")

    with pytest.raises(PolicyError) as info:
        load_policy(path)

    message = str(info.value)
    assert "[lapse] cycle_multiple: Input should be greater than 1" in message
    assert "[lapse] no_purchase_month: not a policy key (misspelt?)" in message


def test_default_file_is_complete_and_loads_to_the_defaults(tmp_path: Path) -> None:
    text = default_toml()
    path = tmp_path / "p.toml"
    path.write_text(text)
    assert load_policy(path) == Policy()
    assert set(tomllib.loads(text)["lapse"]) == set(Policy().lapse.model_dump())


def test_policy_doc_is_generated_from_the_code() -> None:
    written = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
    assert written == render_markdown(), "run `uv run winback policy --markdown > docs/policy.md`"
