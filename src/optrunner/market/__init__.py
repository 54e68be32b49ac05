"""Market data access for strategies: option lookup over chain snapshots (more adapters to come)."""

from optrunner.market.lookup import (
    DELTA_TOLERANCE,
    DELTA_TOLERANCE_CAP,
    EXPIRY_CHOICES,
    LOOKUP_FIELDS,
    ExpirySpec,
    find_option,
    find_option_by_criteria,
    find_option_by_premium,
    find_options,
    option_at_offset,
    resolve_expiry,
)

__all__ = [
    "DELTA_TOLERANCE",
    "DELTA_TOLERANCE_CAP",
    "EXPIRY_CHOICES",
    "LOOKUP_FIELDS",
    "ExpirySpec",
    "find_option",
    "find_option_by_criteria",
    "find_option_by_premium",
    "find_options",
    "option_at_offset",
    "resolve_expiry",
]
