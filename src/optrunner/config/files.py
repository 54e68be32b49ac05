"""Strategy files on disk: reading JSON/YAML, loading one file, and choosing which files a
runner loads from a folder.

Parsing is strict where the usual loaders are silently lenient: a key written twice is an
error (json and PyYAML keep the last one), and YAML's base-60 integers are switched off so
``exit_time: 15:15`` stays the text "15:15" instead of becoming the number 915.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from optrunner.config.issues import FILE, ConfigError, ConfigIssue
from optrunner.config.strategy import StrategyConfig
from optrunner.config.translate import json_path
from optrunner.config.validation import sort_issues, validate_config

log = logging.getLogger(__name__)

SUFFIXES = (".json", ".yaml", ".yml")
NOT_STRATEGY_MARKERS = ("TEMPLATE", "SCHEMA")
# No setting needs more digits than this; Python refuses to convert > 4,300 digits at all
# (a ValueError deep inside json/yaml), so longer integers are refused with a position first.
MAX_INT_DIGITS = 100


class _LongNumberError(ValueError):
    """An integer literal too long to be a setting; ``line``/``column`` when the parser knew them."""

    def __init__(self, digits: int, line: int = 0, column: int = 0) -> None:
        super().__init__(f"a number with {digits:,} digits — too long to be a setting")
        self.line, self.column = line, column


def _json_int(text: str) -> int:
    digits = len(text.lstrip("+-"))
    if digits > MAX_INT_DIGITS:
        raise _LongNumberError(digits)
    return int(text)


class _Mapping(dict[str, Any]):
    """A parsed object that remembers the keys it saw more than once."""

    duplicates: list[str]


def _json_object(pairs: list[tuple[str, Any]]) -> _Mapping:
    out = _Mapping()
    out.duplicates = []
    for key, value in pairs:
        if key in out:
            out.duplicates.append(key)
        out[key] = value
    return out


class _StrictYamlLoader(yaml.SafeLoader):
    """SafeLoader without base-60 numbers and with duplicate keys recorded."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> _Mapping:  # type: ignore[override]
        self.flatten_mapping(node)
        pairs = [
            (self.construct_object(k, deep=deep), self.construct_object(v, deep=deep))
            for k, v in node.value
        ]
        return _json_object([(k if isinstance(k, str) else str(k), v) for k, v in pairs])

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:  # type: ignore[override]
        digits = len(str(node.value).replace("_", "").lstrip("+-"))
        if digits > MAX_INT_DIGITS:
            mark = node.start_mark
            raise _LongNumberError(digits, mark.line + 1, mark.column + 1)
        return super().construct_yaml_int(node)


_StrictYamlLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictYamlLoader.construct_mapping
)
_StrictYamlLoader.add_constructor("tag:yaml.org,2002:int", _StrictYamlLoader.construct_yaml_int)
_StrictYamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")
)
_StrictYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?)$"
    ),
    list("-+0123456789."),
)


def _duplicate_issues(node: Any, loc: tuple[str, ...] = ()) -> Iterator[ConfigIssue]:
    if isinstance(node, dict):
        for key in getattr(node, "duplicates", []):
            yield ConfigIssue(
                json_path((*loc, key)),
                "written more than once — keep one (otherwise the last one silently wins)",
            )
        for key, value in node.items():
            yield from _duplicate_issues(value, (*loc, key))


def read_document(path: Path) -> tuple[Any, list[ConfigIssue]]:
    """The parsed file and any problem reading it (syntax errors with line and column)."""
    if path.suffix.lower() not in SUFFIXES:
        return None, [
            ConfigIssue(FILE, f"unsupported file type '{path.suffix}' — use .json, .yaml or .yml")
        ]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ConfigIssue(FILE, f"cannot read the file ({exc})")]
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text, object_pairs_hook=_json_object, parse_int=_json_int)
        else:  # a SafeLoader subclass: builds plain data only, never arbitrary objects
            data = yaml.load(text, Loader=_StrictYamlLoader)
        return data, list(_duplicate_issues(data))
    except json.JSONDecodeError as exc:
        return None, [
            ConfigIssue(FILE, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
        ]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [ConfigIssue(FILE, f"invalid YAML{where}: {problem}")]
    except _LongNumberError as exc:
        line, column = (exc.line, exc.column) if exc.line else _long_digits_at(text)
        where = f" at line {line}, column {column}" if line else ""
        return None, [ConfigIssue(FILE, f"invalid {_kind(path)}{where}: {exc}")]
    except RecursionError:
        return None, [ConfigIssue(FILE, "nested too deeply to be a strategy file")]
    except (
        ValueError
    ) as exc:  # any other number Python cannot convert: a clean issue, not a traceback
        return None, [ConfigIssue(FILE, f"invalid {_kind(path)}: {str(exc)[:200]}")]


def _kind(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "YAML"


def _long_digits_at(text: str) -> tuple[int, int]:
    """(line, column) of the first over-long digit run (JSON's parse_int hook cannot say where)."""
    match = re.search(rf"\d{{{MAX_INT_DIGITS + 1},}}", text)
    if match is None:
        return 0, 0
    start = match.start()
    return text.count("\n", 0, start) + 1, start - text.rfind("\n", 0, start)


@dataclass(frozen=True, slots=True)
class FileReport:
    """One file checked: its parsed document, the config when valid, and every issue."""

    path: Path
    data: Any
    config: StrategyConfig | None
    issues: list[ConfigIssue]

    @property
    def not_strategy_reason(self) -> str | None:
        return not_strategy_reason(self.path, self.data)


def check_file(path: Path) -> FileReport:
    """Read and validate one strategy file; relative paths in it are read from its folder."""
    data, issues = read_document(path)
    if issues and data is None:
        return FileReport(path, None, None, issues)
    config, problems = validate_config(data, path.parent)
    issues = sort_issues(issues + problems)
    return FileReport(path, data, config if not issues else None, issues)


def load_config_file(path: Path | str) -> StrategyConfig:
    """The validated strategy in ``path``; raises ConfigError listing every problem."""
    report = check_file(Path(path))
    if report.config is None:
        raise ConfigError(report.path, report.issues)
    return report.config


def not_strategy_reason(path: Path, data: Any) -> str | None:
    """Why a file is a template/schema rather than a strategy to run (None when it is one)."""
    name = data.get("name") if isinstance(data, dict) else None
    for marker in NOT_STRATEGY_MARKERS:
        if path.stem.upper().endswith(marker):
            return f"file name ends in {marker}"
        if isinstance(name, str) and name.upper().endswith(marker):
            return f'name "{name}" ends in {marker}'
    return None


def skip_reason(path: Path, data: Any) -> str | None:
    """Why the runners do not run this file (template, schema, ``enabled: false``), else None.

    The one rule ``optrunner validate``, the folder loader and ``backtest``/``sweep``/``run``
    share, so they never disagree about which files are strategies to run.
    """
    reason = not_strategy_reason(path, data)
    if reason is None and isinstance(data, dict) and data.get("enabled") is False:
        reason = "enabled is false"
    return reason


def iter_strategy_files(
    config_dir: Path | str, on_skip: Callable[[Path, str], None] | None = None
) -> Iterator[Path]:
    """The files in ``config_dir`` (not its sub-folders) a runner should load, in name order.

    Skipped, each with its reason logged and passed to ``on_skip``: templates and schemas
    (file stem or ``name`` ending in TEMPLATE/SCHEMA) and files with ``enabled: false``.
    Files that cannot be read or are invalid are yielded so that loading reports them.
    """
    for path in sorted(Path(config_dir).iterdir()):
        if not path.is_file() or path.suffix.lower() not in SUFFIXES:
            continue
        data, _ = read_document(path)
        reason = skip_reason(path, data)
        if reason is None:
            yield path
            continue
        log.info("skipping %s: %s", path, reason)
        if on_skip is not None:
            on_skip(path, reason)
