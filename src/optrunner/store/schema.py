"""Tables of the store: one schema for SQLite and PostgreSQL.

Choices that hold for every table:

* **Times** are ``DateTime(timezone=True)`` holding UTC. PostgreSQL keeps them as
  ``timestamptz``; SQLite has no time zone type and returns them naive, so the repository
  edge (:mod:`optrunner.store.codec`) converts to UTC before writing and attaches UTC after
  reading. SQLAlchemy's SQLite type would silently drop an offset, so nothing else may write
  times into these columns.
* **Money is float.** Prices sit on a 0.05 tick and quantities are integers, so a premium
  is exact to well below a paisa in a double; P&L and charges are computed in Python (in
  floats) and only stored here. ``Numeric`` would be float-backed on SQLite anyway.
* **Enums are strings** (``native_enum=False``) holding the enum *value* (``"SL-M"``,
  not ``"SL_M"``), so adding a member never needs ``ALTER TYPE``. There are no CHECK
  constraints: on SQLite an ``IN (...)`` CHECK cost ~2 µs per row and constraint (measured;
  it made a transition insert 5x slower), so values are validated at the repository edge,
  which is the only writer (every value goes through the core enum).
* **Surrogate keys** are ``BigInteger`` with an ``Integer`` variant on SQLite, where only
  ``INTEGER PRIMARY KEY`` autoincrements. They give the insertion order of append-only
  rows (transitions, fills, states, the journal).
* **JSON** is ``JSONB`` on PostgreSQL (queryable; key order is not kept, which a dict does
  not care about) and text on SQLite.
* **No secondary indexes** on the append-only tables: each one cost ~0.5 µs per row on the
  write hot path (measured: 5% of the order throughput for the two dropped), while
  recovery reads these tables whole, in insertion order. A read path that needs one
  (a dashboard filtering fills by strategy) adds it in a migration.
* The MetaData carries a naming convention so a later Alembic migration can address every
  constraint by a stable name (SQLite needs that for batch mode).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from optrunner.core.types import OrderState, OrderType, Product, Side, Tag

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

BigId = BigInteger().with_variant(Integer, "sqlite")
UtcDateTime = DateTime(timezone=True)
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


def enum_column(enum_cls: type[StrEnum]) -> Enum:
    """A VARCHAR holding the enum's values, read back as the enum's members."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = metadata


class OrderRow(Base):
    """The current state of one order, keyed by its (deterministic) client order id."""

    __tablename__ = "orders"

    client_id: Mapped[str] = mapped_column(String, primary_key=True)
    strategy: Mapped[str] = mapped_column(String)
    tag: Mapped[Tag] = mapped_column(enum_column(Tag))
    contract: Mapped[str] = mapped_column(String)  # canonical OptionContract id
    side: Mapped[Side] = mapped_column(enum_column(Side))
    quantity: Mapped[int] = mapped_column(Integer)
    order_type: Mapped[OrderType] = mapped_column(enum_column(OrderType))
    limit_price: Mapped[float | None] = mapped_column(Float)
    trigger_price: Mapped[float | None] = mapped_column(Float)
    product: Mapped[Product] = mapped_column(enum_column(Product))
    state: Mapped[OrderState] = mapped_column(enum_column(OrderState))
    filled_qty: Mapped[int] = mapped_column(Integer)
    avg_price: Mapped[float] = mapped_column(Float)
    broker_id: Mapped[str | None] = mapped_column(String)
    parent_id: Mapped[str | None] = mapped_column(String)
    basket_id: Mapped[str | None] = mapped_column(String)
    leg: Mapped[str] = mapped_column(String)
    created_ts: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_ts: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(Text)


class OrderEventRow(Base):
    """One state transition of an order; ``from_state`` is NULL for the creation event."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("orders.client_id"))
    from_state: Mapped[OrderState | None] = mapped_column(enum_column(OrderState))
    to_state: Mapped[OrderState] = mapped_column(enum_column(OrderState))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(Text)
    filled_qty: Mapped[int] = mapped_column(Integer)
    avg_price: Mapped[float] = mapped_column(Float)


class FillRow(Base):
    """One execution with its charges.

    No foreign key to ``orders``: expiry settlements and fills found at reconciliation for
    orders placed outside optrunner have no order row, and must still be recorded.
    """

    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fill_id: Mapped[str] = mapped_column(String, unique=True)
    client_id: Mapped[str] = mapped_column(String)
    strategy: Mapped[str] = mapped_column(String)
    tag: Mapped[Tag] = mapped_column(enum_column(Tag))
    contract: Mapped[str] = mapped_column(String)
    side: Mapped[Side] = mapped_column(enum_column(Side))
    quantity: Mapped[int] = mapped_column(Integer)
    price: Mapped[float] = mapped_column(Float)
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    brokerage: Mapped[float] = mapped_column(Float)
    stt: Mapped[float] = mapped_column(Float)
    exchange: Mapped[float] = mapped_column(Float)
    sebi: Mapped[float] = mapped_column(Float)
    stamp: Mapped[float] = mapped_column(Float)
    ipft: Mapped[float] = mapped_column(Float)
    gst: Mapped[float] = mapped_column(Float)
    leg: Mapped[str] = mapped_column(String)
    is_settlement: Mapped[bool] = mapped_column(Boolean())


class PositionRow(Base):
    """Net position of one strategy in one contract (signed quantity, + long / - short)."""

    __tablename__ = "positions"

    strategy: Mapped[str] = mapped_column(String, primary_key=True)
    contract: Mapped[str] = mapped_column(String, primary_key=True)
    net_qty: Mapped[int] = mapped_column(Integer)
    avg_price: Mapped[float] = mapped_column(Float)
    realized_pnl: Mapped[float] = mapped_column(Float)
    charges: Mapped[float] = mapped_column(Float)
    updated_ts: Mapped[datetime] = mapped_column(UtcDateTime)


class StrategyStateRow(Base):
    """Every saved state of a strategy; the highest ``version`` per strategy is current."""

    __tablename__ = "strategy_states"
    __table_args__ = (UniqueConstraint("strategy", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    strategy: Mapped[str] = mapped_column(String)
    version: Mapped[int] = mapped_column(Integer)
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    state: Mapped[dict[str, Any]] = mapped_column(JsonDoc)


class JournalRow(Base):
    """The append-only event journal; ``seq`` is assigned by the database in append order.

    ``sqlite_autoincrement`` makes SQLite never reuse a ``seq``, even after rows are pruned.
    """

    __tablename__ = "journal"
    __table_args__ = ({"sqlite_autoincrement": True},)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String)
    strategy: Mapped[str | None] = mapped_column(String)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)


class StrategyConfigurationRow(Base):
    """Which strategies run and with what (alpha_panda's source of truth, REFERENCE_SYSTEMS §4.4).

    ``zerodha_trading_enabled`` is the broker flag: true routes the strategy to the live
    broker, false to paper. ``instruments`` is a JSON list (tokens or canonical ids).
    """

    __tablename__ = "strategy_configurations"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    strategy_type: Mapped[str] = mapped_column(String)
    instruments: Mapped[list[Any]] = mapped_column(JsonDoc)
    parameters: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    is_active: Mapped[bool] = mapped_column(Boolean())
    zerodha_trading_enabled: Mapped[bool] = mapped_column(Boolean())
    use_composition: Mapped[bool] = mapped_column(Boolean())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

