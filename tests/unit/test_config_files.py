"""Strategy files on disk: JSON/YAML reading, relative paths, ConfigError, and the runner's file choice."""

from __future__ import annotations

import json
import logging
from datetime import time

import pytest
from _config_support import good_config, make_chain_db

from optrunner.config import ConfigError, check_file, iter_strategy_files, load_config_file


@pytest.fixture
def layout(tmp_path):
    """configs/ next to data/, as in examples/: configs refer to ../data/NFO_NIFTY.sqlite."""
    make_chain_db(tmp_path / "data" / "NFO_NIFTY.sqlite")
    (tmp_path / "configs").mkdir()
    return tmp_path


def write(path, doc) -> str:
    path.write_text(json.dumps(doc, indent=2))
    return path


def test_relative_db_path_resolves_against_the_config_folder_not_the_cwd(
    layout, tmp_path_factory, monkeypatch
):
    monkeypatch.chdir(tmp_path_factory.mktemp("somewhere_else"))
    path = write(layout / "configs" / "a.json", good_config("../data/NFO_NIFTY.sqlite"))
    config = load_config_file(path)
    assert config.market_config.db_path == layout / "data" / "NFO_NIFTY.sqlite"
    assert config.market_config.db_path.is_absolute()


def test_relative_config_path_still_stores_an_absolute_db_path(layout, monkeypatch):
    write(layout / "configs" / "a.json", good_config("../data/NFO_NIFTY.sqlite"))
    monkeypatch.chdir(layout)
    config = load_config_file("configs/a.json")
    assert config.market_config.db_path == layout / "data" / "NFO_NIFTY.sqlite"


def test_load_config_file_raises_with_every_issue(layout):
    doc = good_config("../data/NFO_NIFTY.sqlite")
    doc["entry"]["entry_time"] = "9:30"
    doc["execution"]["product"] = "CNC"
    path = write(layout / "configs" / "bad.json", doc)
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    err = caught.value
    assert err.path == path
    assert [i.path for i in err.issues] == ["entry.entry_time", "execution.product"]
    text = str(err)
    assert text.splitlines()[0] == f"{path}: 2 problems"
    assert '  - entry.entry_time: "9:30" is not HH:MM — write "09:30"' in text.splitlines()


def test_json_syntax_error_gives_line_and_column(layout):
    path = layout / "configs" / "broken.json"
    path.write_text(
        '{\n  "name": "X",\n  "enabled": true\n  "entry": {}\n}\n'
    )  # missing comma after line 3
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    [issue] = caught.value.issues
    assert issue.path == "(file)"
    assert issue.message.startswith("invalid JSON at line 4, column 3:")


def test_duplicate_keys_are_reported_not_silently_overwritten(layout):
    path = layout / "configs" / "dup.json"
    text = json.dumps(good_config("../data/NFO_NIFTY.sqlite"), indent=2)
    path.write_text(
        text.replace('"exit_time": "15:15"', '"exit_time": "15:15", "exit_time": "15:20"')
    )
    report = check_file(path)
    assert report.config is None
    assert [i.path for i in report.issues] == ["exit.exit_time"]
    assert "written more than once" in report.issues[0].message


YAML_DOC = """\
name: NIFTY_DNSS_YAML
enabled: true
market_config:
  exchange: NFO
  symbol: NIFTY
  db_path: ../data/NFO_NIFTY.sqlite
entry:
  entry_time: 09:30      # unquoted: plain YAML would read 15:15 below as the number 915
  target_ce_delta: 0.25
  target_pe_delta: 0.25
  quantity: 1
  expiry: 2026-02-17
adjustment:
  delta_drift_trigger: 0.3
exit:
  exit_time: 15:15
  max_loss: 5000
"""


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_yaml_files_load_with_unquoted_times(layout, suffix):
    path = layout / "configs" / f"nifty{suffix}"
    path.write_text(YAML_DOC)
    config = load_config_file(path)
    assert (config.entry.entry_time, config.exit.exit_time) == (time(9, 30), time(15, 15))
    assert config.market_config.db_path == layout / "data" / "NFO_NIFTY.sqlite"
    assert config.entry.expiry.isoformat() == "2026-02-17"


def test_yaml_syntax_error_gives_line_and_column(layout):
    path = layout / "configs" / "broken.yaml"
    path.write_text("name: X\nentry:\n  entry_time: [09:30\nexit: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    [issue] = caught.value.issues
    assert issue.path == "(file)"
    assert issue.message.startswith("invalid YAML at line 4, column ")


def test_yaml_duplicate_keys_are_reported(layout):
    path = layout / "configs" / "dup.yaml"
    path.write_text(YAML_DOC.replace("  max_loss: 5000\n", "  max_loss: 5000\n  max_loss: 500\n"))
    assert [i.path for i in check_file(path).issues] == ["exit.max_loss"]


def test_unsupported_file_type(layout):
    path = layout / "configs" / "a.toml"
    path.write_text("name = 'x'")
    assert [str(i) for i in check_file(path).issues] == [
        "(file): unsupported file type '.toml' — use .json, .yaml or .yml"
    ]


@pytest.mark.parametrize("name", ["deep.json", "deep.yaml"])
def test_absurdly_nested_file_is_an_issue_not_a_crash(layout, name):
    path = layout / "configs" / name
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert [str(i) for i in check_file(path).issues] == [
        "(file): nested too deeply to be a strategy file"
    ]


def test_missing_file_is_a_config_error(layout):
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config_file(layout / "configs" / "nope.json")


def test_iter_strategy_files_skips_templates_schemas_and_disabled_files_and_says_why(
    layout, caplog
):
    folder = layout / "configs"
    good = good_config("../data/NFO_NIFTY.sqlite")
    write(folder / "A_NIFTY.json", good)
    write(folder / "NIFTY_DNSS_TEMPLATE.json", good)
    write(folder / "mine.json", {**good, "name": "MY_TEMPLATE"})
    write(
        folder / "STRATEGY_CONFIG_SCHEMA.json",
        {"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )
    write(folder / "paused.json", {**good, "enabled": False})
    (folder / "b.yaml").write_text(YAML_DOC)
    (folder / "broken.json").write_text("{ not json")
    (folder / "notes.txt").write_text("not a strategy")
    (folder / "sub").mkdir()
    write(folder / "sub" / "nested.json", good)

    skipped = {}
    with caplog.at_level(logging.INFO, logger="optrunner.config.files"):
        loaded = list(
            iter_strategy_files(folder, on_skip=lambda p, why: skipped.__setitem__(p.name, why))
        )

    # Broken files are yielded so that loading them reports the problem; sub-folders are not searched.
    assert [p.name for p in loaded] == ["A_NIFTY.json", "b.yaml", "broken.json"]
    assert skipped == {
        "NIFTY_DNSS_TEMPLATE.json": "file name ends in TEMPLATE",
        "STRATEGY_CONFIG_SCHEMA.json": "file name ends in SCHEMA",
        "mine.json": 'name "MY_TEMPLATE" ends in TEMPLATE',
        "paused.json": "enabled is false",
    }
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "paused.json: enabled is false" in logged
    assert "NIFTY_DNSS_TEMPLATE.json: file name ends in TEMPLATE" in logged
