"""Strategy types by name: ``"strategy": "dnss"`` in a config file -> the factory that builds it.

A strategy module registers its factory with ``@register_strategy("dnss")`` at import time.
The built-in modules are imported on first use, so ``create_strategy`` knows every built-in
type without the caller importing anything; a user's own module registers itself the same
way once it is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from difflib import get_close_matches
from typing import Any, TypeVar

from optrunner.strategies.base import Strategy

StrategyFactory = Callable[[Any], Strategy]
F = TypeVar("F", bound=StrategyFactory)

# Modules whose import registers a built-in strategy type.
BUILTIN_MODULES = (
    "optrunner.strategies.dnss",
    "optrunner.strategies.weekly_zones",
    "optrunner.strategies.momentum",
    "optrunner.strategies.momentum_buyer",
    "optrunner.strategies.legs",
    "optrunner.strategies.low_frequency_demo",
    "optrunner.strategies.ml",
)

_FACTORIES: dict[str, StrategyFactory] = {}
_builtins_loaded = False


class UnknownStrategyType(ValueError):
    """A config names a strategy type nobody registered."""


def register_strategy(type_name: str) -> Callable[[F], F]:
    """Decorator: make ``factory(config) -> Strategy`` the builder for ``type_name``.

    Registering a name twice is an error (two modules fighting over one name would make
    which strategy runs depend on import order).
    """
    if not type_name or not isinstance(type_name, str):
        raise ValueError(f"strategy type name must be a non-empty string, got {type_name!r}")

    def decorate(factory: F) -> F:
        existing = _FACTORIES.get(type_name)
        if existing is not None and existing is not factory:
            raise ValueError(
                f"strategy type {type_name!r} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}"
            )
        _FACTORIES[type_name] = factory
        return factory

    return decorate


def _load_builtins() -> None:
    """Import the built-in strategy modules once. A missing one is an error, never a silent
    skip: a strategy file naming its kind would otherwise fail far from the cause."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    _builtins_loaded = True


def registered_strategies() -> list[str]:
    """Every strategy type ``create_strategy`` can build, sorted."""
    _load_builtins()
    return sorted(_FACTORIES)


def strategy_factory(type_name: str) -> StrategyFactory:
    """The factory registered for ``type_name``; UnknownStrategyType names the known ones."""
    _load_builtins()
    factory = _FACTORIES.get(type_name)
    if factory is None:
        known = sorted(_FACTORIES)
        close = get_close_matches(str(type_name), known, n=1)
        tip = f" — did you mean {close[0]!r}?" if close else ""
        raise UnknownStrategyType(
            f"no strategy type {type_name!r} is registered{tip} (known: {', '.join(known) or 'none'})"
        )
    return factory


def create_strategy(config: Any) -> Strategy:
    """Build the strategy ``config.strategy`` names, from ``config`` (the runner's default factory)."""
    type_name = getattr(config, "strategy", None)
    if not type_name:
        raise UnknownStrategyType(
            f"config {getattr(config, 'name', config)!r} does not name a strategy type "
            f'(set "strategy" to one of: {", ".join(registered_strategies())})'
        )
    return strategy_factory(type_name)(config)
