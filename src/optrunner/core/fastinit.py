"""A faster ``__init__`` for the frozen, slotted dataclasses made per order and per tick.

``@dataclass(frozen=True)`` makes ``__init__`` assign each field through
``object.__setattr__(self, name, value)``, because its own ``__setattr__`` refuses: about
80 ns a field. Broker answers, fills and events are frozen (they are shared between the
order manager, the portfolio and the strategies, and must not change under them) and
several are made per order, so that cost showed on the order benchmark: ~0.9 µs to build a
:class:`~optrunner.execution.brokers.base.BrokerEvent` against ~0.2 µs unfrozen.

:func:`fast_frozen_init` replaces the generated ``__init__`` by one that stores each field
through its slot's descriptor (what ``object.__setattr__`` ends up calling), with the same
parameters, defaults and default factories. Everything else dataclasses made (frozen
``__setattr__``, ``__eq__``, ``__hash__``, ``__repr__``) is kept.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T", bound=type)


class _Factory:
    """The default of a parameter whose field has a default factory (shown as dataclasses do)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def fast_frozen_init(cls: T) -> T:
    """Give the frozen, slotted dataclass ``cls`` the faster ``__init__`` (see the module)."""
    params = getattr(cls, "__dataclass_params__", None)
    if not (is_dataclass(cls) and params is not None and params.frozen and "__slots__" in cls.__dict__):
        raise TypeError(f"{cls.__name__} must be a frozen dataclass with slots=True")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has __post_init__, which the fast __init__ would skip")
    namespace: dict[str, Any] = {"_FACTORY": _FACTORY}
    args, body = [], []
    for i, f in enumerate(fields(cls)):
        if not f.init or f.kw_only:
            raise TypeError(f"{cls.__name__}.{f.name}: init=False / kw_only fields are not supported")
        namespace[f"_set{i}"] = cls.__dict__[f.name].__set__
        value = f.name
        if f.default is not MISSING:
            namespace[f"_default{i}"] = f.default
            args.append(f"{f.name}=_default{i}")
        elif f.default_factory is not MISSING:
            namespace[f"_factory{i}"] = f.default_factory
            args.append(f"{f.name}=_FACTORY")
            value = f"_factory{i}() if {f.name} is _FACTORY else {f.name}"
        else:
            args.append(f.name)
        body.append(f"    _set{i}(self, {value})\n")
    source = f"def __init__(self, {', '.join(args)}):\n" + ("".join(body) or "    pass\n")
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init
    return cls
