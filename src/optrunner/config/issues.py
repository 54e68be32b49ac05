"""What a config check reports: one ``ConfigIssue`` per problem, gathered into a ``ConfigError``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = "(top level)"  # path of a problem with the document as a whole
FILE = "(file)"  # path of a problem reading or parsing the file


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem: the JSON path it is at (``exit.exit_time``) and what to do about it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(ValueError):
    """A strategy file that cannot be used, with every problem found in it."""

    def __init__(self, path: Path | str, issues: Sequence[ConfigIssue]) -> None:
        self.path = Path(path)
        self.issues = tuple(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.issues)
        head = f"{self.path}: {count} problem{'s' if count != 1 else ''}"
        return "\n".join([head, *(f"  - {issue}" for issue in self.issues)])
