"""Building blocks shared by every strategy-file section: the base model and field types.

Every constraint lives in an ``Annotated`` type rather than in ``@field_validator``
methods, so a single field can be re-validated on its own (see ``validation.py``). That is
what lets cross-field rules run — and report — even when unrelated fields are broken.
Validators raise ``ValueError`` with a sentence a trader can act on; ``translate.py`` turns it
into the final message.
"""

from __future__ import annotations

import difflib
import os.path
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    WithJsonSchema,
)

from optrunner.core.timeutil import SESSION_CLOSE, SESSION_OPEN, parse_hhmm


def section_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a section field annotated ``Section``, ``Section | None`` or a list of sections
    (``tuple[Section, ...]``, the ``legs`` list); None for a leaf."""
    if isinstance(annotation, type):
        return annotation if issubclass(annotation, BaseModel) else None
    for arg in get_args(annotation):  # Section | None, tuple[Section, ...] (a list of them), Annotated[...]
        found = section_model(arg) if arg is not Ellipsis else None
        if found is not None:
            return found
    return None


class ConfigModel(BaseModel):
    """Strict, immutable base: unknown keys are errors, NaN/inf are not numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True, slots=True)
class LoadContext:
    """Passed as pydantic's validation context: where relative paths in the file point."""

    base_dir: Path


def base_dir(info: ValidationInfo) -> Path:
    """The config file's folder; the working directory when a model is built in code."""
    ctx = info.context
    return ctx.base_dir if isinstance(ctx, LoadContext) else Path.cwd()


def show(value: Any) -> str:
    """A user's value as they would have written it in JSON (strings quoted)."""
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return str(value)


def suggest(word: str, candidates: Sequence[str]) -> str | None:
    """The closest candidate by difflib, case-insensitively, or None when nothing is close."""
    lowered = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def one_of(
    allowed: Sequence[str],
    *,
    aliases: Mapping[str, str] | None = None,
    hints: Mapping[str, str] | None = None,
    upper: bool = False,
) -> BeforeValidator:
    """Accept one of ``allowed`` (plus ``aliases`` mapped to their canonical value).

    ``hints`` maps known wrong values to the sentence that fixes them ("use live_feed_market"),
    so the error says what to write instead of listing the options only.
    """
    aliases = aliases or {}
    hints = hints or {}

    def check(value: Any) -> Any:
        options = ", ".join(allowed)
        if not isinstance(value, str):
            raise ValueError(f"{show(value)} is not allowed — must be one of: {options}")
        key = value.upper() if upper else value
        if key in allowed:
            return key
        if key in aliases:
            return aliases[key]
        if key in hints:
            raise ValueError(f"{show(value)} {hints[key]}")
        close = suggest(key, [*allowed, *aliases])
        tip = f" (did you mean {close}?)" if close else ""
        raise ValueError(f"{show(value)} is not allowed — must be one of: {options}{tip}")

    return BeforeValidator(check)


def _hhmm(value: Any) -> time:
    if isinstance(value, time):
        return value
    return parse_hhmm(value)


def _not_before_open(t: time) -> time:
    if t < SESSION_OPEN:
        raise ValueError(f"{t:%H:%M} is before the 09:15 market open — use 09:15 or later")
    return t


def _not_after_close(t: time) -> time:
    if t > SESSION_CLOSE:
        raise ValueError(f"{t:%H:%M} is after the 15:30 market close — use 15:30 or earlier")
    return t


HHMM_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"

HHMM = Annotated[
    time,
    BeforeValidator(_hhmm),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": HHMM_PATTERN, "examples": ["09:30"]}),
]
SessionTime = Annotated[HHMM, AfterValidator(_not_before_open), AfterValidator(_not_after_close)]

# Numbers: JSON numbers only (no "5000" strings, no true/false), finite.
PositiveInt = Annotated[StrictInt, Field(ge=1)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
PositiveNumber = Annotated[StrictFloat, Field(gt=0)]  # StrictFloat takes JSON integers too
NonNegativeNumber = Annotated[StrictFloat, Field(ge=0)]
Fraction = Annotated[StrictFloat, Field(gt=0, lt=1)]  # an absolute option delta
Percent = Annotated[StrictFloat, Field(ge=0, le=100)]
Flag = StrictBool


def _resolve(value: Any, info: ValidationInfo) -> Path:
    if not isinstance(value, str | Path) or not str(value).strip():
        raise ValueError(
            f'{show(value)} is not a path — write it as text, e.g. "../data/chain.sqlite"'
        )
    try:
        path = Path(str(value).strip()).expanduser()
    except RuntimeError:  # "~someone/..." for a user this machine does not have
        raise ValueError(f"{show(value)}: cannot expand '~' — write the full path") from None
    if not path.is_absolute():
        path = base_dir(info) / path
    return Path(os.path.normpath(path.absolute()))


SQLITE_MAGIC = b"SQLite format 3\x00"


def _chain_source(path: Path) -> Path:
    """A seed SQLite chain DB file or an optrunner Parquet catalog folder that exists."""
    try:
        if path.is_dir():
            return path
        if not path.is_file():
            raise ValueError(
                f"{path} does not exist — give the SQLite chain DB file or the Parquet catalog "
                "folder (relative paths are read from the config file's folder)"
            )
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise ValueError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise ValueError(f"{path} is empty — it holds no option_chain table to read")
    if head != SQLITE_MAGIC:
        raise ValueError(
            f"{path} is not a SQLite database — point db_path at the option-chain .sqlite file"
        )
    return path


def _writable_file(path: Path) -> Path:
    try:
        is_dir = path.is_dir()
    except OSError as exc:
        raise ValueError(f"{path} is not a usable file name ({exc.strerror or exc})") from None
    if is_dir:
        raise ValueError(f"{path} is a folder — give a file name, e.g. logs/strategy.log")
    return path


StringPath = WithJsonSchema({"type": "string"})
ChainSourcePath = Annotated[
    Path, BeforeValidator(_resolve), AfterValidator(_chain_source), StringPath
]
FilePath = Annotated[Path, BeforeValidator(_resolve), AfterValidator(_writable_file), StringPath]


def url(schemes: tuple[str, ...], example: str) -> Callable[[Any], str]:
    """A validator for URLs with one of ``schemes`` and a host."""

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f'{show(value)} is not a URL — write it as text, e.g. "{example}"')
        parts = urlsplit(value.strip())
        if parts.scheme.lower() not in schemes or not parts.netloc:
            wanted = " or ".join(f"{s}://" for s in schemes)
            raise ValueError(
                f'{show(value)} is not a URL starting with {wanted} — e.g. "{example}"'
            )
        return value.strip()

    return check


FeedUrl = Annotated[
    str,
    BeforeValidator(url(("ws", "wss"), "wss://feed.example.com/nifty")),
    WithJsonSchema(
        {"type": "string", "pattern": "^wss?://", "examples": ["ws://127.0.0.1:8765/chain"]}
    ),
]
WebhookUrl = Annotated[
    str,
    BeforeValidator(url(("http", "https"), "https://hooks.example.com/alerts")),
    WithJsonSchema({"type": "string", "pattern": "^https?://"}),
]


_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


def email_address(value: Any) -> str:
    """One address like ``ops@example.com`` (no display name, no list)."""
    if not isinstance(value, str) or not _EMAIL.match(value.strip()):
        raise ValueError(f'{show(value)} is not an e-mail address — write one like "ops@example.com"')
    return value.strip()


EmailAddress = Annotated[
    str,
    BeforeValidator(email_address),
    WithJsonSchema({"type": "string", "format": "email", "examples": ["ops@example.com"]}),
]

def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


Name = Annotated[
    str,
    Field(strict=True),
    AfterValidator(_non_empty),
    WithJsonSchema({"type": "string", "minLength": 1}),
]
Text = Annotated[str, Field(strict=True)]
