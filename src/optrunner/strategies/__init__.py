"""Strategies: the protocol, composition (processor + validator -> executor) and the built-ins."""

from optrunner.strategies.base import NO_INTENTS, BaseStrategy, Intents, Strategy, Subscriptions

__all__ = ["NO_INTENTS", "BaseStrategy", "Intents", "Strategy", "Subscriptions"]
