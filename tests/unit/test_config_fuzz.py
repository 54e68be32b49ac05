"""Random input never crashes the validator: it always answers with issues that have a path."""

from __future__ import annotations

import json

import pytest
from _config_support import edited, good_config, make_chain_db
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optrunner.config import check_file, validate_config
from optrunner.config.translate import field_paths

FIELD_PATHS = sorted(field_paths())
KEY_NAMES = sorted({p.split(".")[-1] for p in FIELD_PATHS} | {p.split(".")[0] for p in FIELD_PATHS})

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "09:30",
            "9:30",
            "15:45",
            "NIFTY",
            "NFO",
            "STOP",
            "weekly",
            "2026-02-30",
            "ws://x",
            "",
            "\x00",
            "n" * 300,
        ]
    )  # 300: longer than a file name may be
)
keys = st.sampled_from(KEY_NAMES) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=30,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    make_chain_db(folder / "chain.sqlite")
    return folder


def check(doc, base_dir):
    config, issues = validate_config(doc, base_dir)
    assert (config is None) == bool(issues)
    for issue in issues:
        assert isinstance(issue.path, str) and issue.path
        assert isinstance(issue.message, str) and issue.message
        assert "Input should" not in issue.message and "pydantic" not in issue.message, issue
    return config, issues


@FUZZ
@given(doc=json_values)
def test_random_json_documents_only_produce_issues(base, doc):
    check(doc, base)


@FUZZ
@given(path=st.sampled_from(FIELD_PATHS), value=json_values, drop=st.booleans())
def test_one_random_field_in_a_good_document(base, path, value, drop):
    doc = good_config(base / "chain.sqlite")
    doc = edited(doc, path) if drop else edited(doc, path, value)
    check(doc, base)


@FUZZ
@given(
    path=st.sampled_from(
        [
            "market_config.db_path",
            "monitoring.log_file",
            "market_config.feed_url",
            "monitoring.alert_webhook",
        ]
    ),
    value=st.text(max_size=20)
    | st.text(min_size=250, max_size=5000)
    | st.sampled_from(["\x00", "/" + "a/" * 3000, "~no_such_user_x/y"]),
)
def test_random_paths_and_urls(base, path, value):
    """The file-system checks meet names too long for the OS, NUL bytes and odd paths."""
    check(edited(good_config(base / "chain.sqlite"), path, value), base)


@FUZZ
@given(text=st.text(max_size=200), suffix=st.sampled_from([".json", ".yaml", ".yml"]))
def test_random_file_text_only_produces_issues(base, text, suffix):
    path = base / f"random{suffix}"
    path.write_text(text, encoding="utf-8")
    report = check_file(path)
    assert (report.config is None) == bool(report.issues)
    assert all(i.path and i.message for i in report.issues)


def test_fuzz_strategies_reach_valid_documents_too(base):
    """Sanity check of the harness: the good document itself passes through ``check``."""
    config, issues = check(json.loads(json.dumps(good_config(base / "chain.sqlite"))), base)
    assert issues == [] and config is not None
