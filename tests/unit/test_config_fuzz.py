"""Random input never crashes the validator: it always answers with issues that have a path."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

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


# --- seeded mutation of the example configs: whole files through both real entry points ------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "configs"
HUGE = "9" * 4_301  # one digit past what Python converts at all


def _mutations(rng: random.Random, text: str) -> tuple[str, str]:
    """(kind, mutated text): a hostile edit of a JSON document, chosen by ``rng``."""
    numbers = [m.span() for m in re.finditer(r"(?<=: )-?\d+(\.\d+)?", text)]
    values = [
        m.span() for m in re.finditer(r'(?<=: )("[^"]*"|-?\d+(\.\d+)?|true|false|null)', text)
    ]
    kind = rng.choice(
        ["huge_int", "huge_int", "huge_float", "type", "deep", "truncate", "byte", "dup"]
    )
    if kind == "huge_int":
        a, b = rng.choice(numbers)
        digits = HUGE + "9" * rng.randrange(2_000)
        return kind, text[:a] + rng.choice(["", "-"]) + digits + text[b:]
    if kind == "huge_float":
        a, b = rng.choice(numbers)
        return kind, text[:a] + rng.choice(["1e400", "-1e400", "1" * 500 + ".5", "1e-400"]) + text[
            b:
        ]
    if kind == "type":
        a, b = rng.choice(values)
        new = rng.choice(['["a", 1]', '{"x": {}}', '""', "null", "true", '"NaN"', "0", "-1"])
        return kind, text[:a] + new + text[b:]
    if kind == "deep":
        a, b = rng.choice(values)
        depth = rng.choice([50, 5_000, 100_000])
        return kind, text[:a] + "[" * depth + "1" + "]" * depth + text[b:]
    if kind == "truncate":
        return kind, text[: rng.randrange(len(text))]
    if kind == "byte":
        i = rng.randrange(len(text))
        return kind, text[:i] + rng.choice(["\x00", "{", "}", ",", '"', "\\", "é"]) + text[i:]
    a, b = rng.choice(values)
    return kind, text[:a] + text[a:b] + ', "name": "twice"' + text[b:]


def fuzzed_folder(folder: Path, n: int, seed: int = 11) -> dict[str, str]:
    """``n`` mutated example configs written as F0000.json ... (a tenth as YAML); {stem: kind}."""
    rng = random.Random(seed)
    db = make_chain_db(folder / "chain.sqlite")
    bases = []
    for path in sorted(EXAMPLES.glob("*.json")):
        if "TEMPLATE" in path.stem:
            continue
        doc = json.loads(path.read_text())
        doc["market_config"]["db_path"] = str(db)
        bases.append(doc)
    kinds = {}
    for i in range(n):
        stem = f"F{i:04d}"
        doc = dict(rng.choice(bases), name=stem)
        kind, text = _mutations(rng, json.dumps(doc, indent=1))
        if i % 10 == 0 and kind in ("huge_int", "type", "truncate"):
            text = text.replace(
                "{\n", "{\n ", 1
            )  # JSON is YAML: the YAML loader meets the same edit
            (folder / f"{stem}.yaml").write_text(text, encoding="utf-8")
        else:
            (folder / f"{stem}.json").write_text(text, encoding="utf-8")
        kinds[stem] = kind
    return kinds


def test_2500_mutated_config_files_give_no_traceback_in_validate_or_the_runner(tmp_path):
    """validate prints issues (never a traceback) and load_strategies_from_json reports each
    file — a >4,300-digit integer makes its file False, the others still load."""
    from typer.testing import CliRunner

    from optrunner.cli import app
    from optrunner.runner import StrategyRunner

    kinds = fuzzed_folder(tmp_path, 2_500)
    assert sum(k == "huge_int" for k in kinds.values()) > 400

    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code == 2  # most mutants are invalid: bad input (core/errors.py)
    assert "too long to be a setting" in result.output

    loaded = StrategyRunner(bot=None).load_strategies_from_json(tmp_path)
    for stem, kind in kinds.items():
        if kind == "huge_int":
            assert loaded[stem] is False, stem
    assert any(loaded.values())  # mutants that stayed valid (e.g. a changed description) load


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_huge_integer_is_one_clean_issue_with_its_line(tmp_path, suffix):
    path = tmp_path / f"big{suffix}"
    path.write_text('{"name": "BIG",\n "entry": {"quantity": ' + HUGE + "}}", encoding="utf-8")
    report = check_file(path)
    assert report.config is None
    (issue,) = report.issues
    assert "line 2" in issue.message and "4,301 digits" in issue.message
