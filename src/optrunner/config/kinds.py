"""Strategy kinds and their typed parameter sections.

A strategy file names its kind (``"strategy": "momentum"``) and carries that kind's
section under the kind's own name (``"momentum": {...}``). DNSS, the first kind, reads the
seed's ``entry`` / ``adjustment`` / ``exit`` sections instead. Keeping one section per kind
(rather than a free ``parameters`` dict) is what lets ``validate`` report a misspelt
parameter with its JSON path and ``schema`` document every kind.

The models live here, not next to the strategies, because ``config`` sits below
``strategies`` (strategies import their parameter models from here, never the reverse).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictFloat, StrictInt, StrictStr

from optrunner.config.base import ConfigModel, Flag, PositiveInt, PositiveNumber, one_of
from optrunner.instruments.contracts import OptionContract

DNSS_SECTIONS = ("entry", "adjustment", "exit")


def _option_ids(ids: tuple[str, ...]) -> tuple[str, ...]:
    for text in ids:
        OptionContract.from_id(text)  # raises ValueError naming the bad id
    return ids


OptionIds = Annotated[tuple[str, ...], Field(min_length=1), AfterValidator(_option_ids)]


class MomentumParameters(ConfigModel):
    """Rule-based momentum over the last ``lookback`` ticks of an option."""

    lookback: Annotated[StrictInt, Field(ge=2)] = Field(
        20, description="Ticks spanned by the momentum, the current one included."
    )
    threshold: PositiveNumber = Field(
        0.01, description="Fractional move that triggers (0.01 = 1 %)."
    )
    lots: PositiveInt = Field(1, description="Position size in lots.")


class LowFrequencyDemoParameters(ConfigModel):
    """A slow, predictable signal source that proves the whole path end to end."""

    min_interval_seconds: PositiveNumber = Field(
        900.0, description="Least time between two signals per instrument."
    )
    side: Annotated[Literal["BUY", "SELL", "alternate"], one_of(("BUY", "SELL", "alternate"))] = (
        Field("alternate", description="Signal side; alternate flips each time.")
    )
    lots: PositiveInt = Field(1, description="Position size in lots.")


class MLMomentumParameters(ConfigModel):
    """A classifier's view of the last ``lookback_periods`` ticks (see strategies/ml.py)."""

    model_path: Annotated[StrictStr, Field(min_length=1)] = Field(
        description="joblib file holding a fitted scikit-learn classifier."
    )
    lookback_periods: Annotated[StrictInt, Field(ge=5)] = Field(
        20, description="Ticks in the feature window."
    )
    confidence_threshold: Annotated[StrictFloat, Field(ge=0.5, lt=1.0)] = Field(
        0.6, description="Least class probability to act on."
    )
    lots: PositiveInt = Field(1, description="Position size in lots.")


class CompositionSection(ConfigModel):
    """What every composition kind (processor + validator) trades, and how big."""

    instruments: OptionIds = Field(
        description="Canonical option ids traded, e.g. NIFTY:20260113:25000:CE. Their ticks are "
        "delivered to the strategy (in a backtest, derived from the catalog's chain rows).",
        examples=[["NIFTY:20260113:25000:CE"]],
    )
    allow_short: Flag = Field(
        False, description="false: a SELL signal exits to flat; true: it goes short."
    )
    max_position_size: PositiveInt | None = Field(None, description="Largest signal, in units.")


class MomentumSection(CompositionSection, MomentumParameters):
    """``"strategy": "momentum"``."""


class LowFrequencyDemoSection(CompositionSection, LowFrequencyDemoParameters):
    """``"strategy": "low_frequency_demo"``."""


class MLMomentumSection(CompositionSection, MLMomentumParameters):
    """``"strategy": "ml_momentum"``."""


# kind -> (the model of its section, the processor-parameter model inside it)
COMPOSITION_KINDS: dict[str, tuple[type[CompositionSection], type[ConfigModel]]] = {
    "momentum": (MomentumSection, MomentumParameters),
    "low_frequency_demo": (LowFrequencyDemoSection, LowFrequencyDemoParameters),
    "ml_momentum": (MLMomentumSection, MLMomentumParameters),
}
# Every kind a file may name, and the section(s) each reads.
KIND_SECTIONS: dict[str, tuple[str, ...]] = {
    "dnss": DNSS_SECTIONS,
    **{kind: (kind,) for kind in COMPOSITION_KINDS},
}
STRATEGY_KINDS = tuple(KIND_SECTIONS)


def kind_sections() -> set[str]:
    """Every section that belongs to one kind only (using it with another kind is an error)."""
    return {s for sections in KIND_SECTIONS.values() for s in sections}
