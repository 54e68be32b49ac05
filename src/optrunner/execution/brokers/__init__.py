"""Brokers behind one protocol: the simulated exchange here; paper and real adapters alongside."""

from optrunner.execution.brokers.base import (
    Broker,
    BrokerEvent,
    BrokerEventKind,
    BrokerOrderStatus,
    BrokerUnreachable,
    MarketDrivenBroker,
    RejectReason,
)
from optrunner.execution.brokers.faults import FaultConfig, FaultInjector
from optrunner.execution.brokers.simulated import SimConfig, SimulatedExchange

__all__ = [
    "Broker",
    "BrokerEvent",
    "BrokerEventKind",
    "BrokerOrderStatus",
    "BrokerUnreachable",
    "FaultConfig",
    "FaultInjector",
    "MarketDrivenBroker",
    "RejectReason",
    "SimConfig",
    "SimulatedExchange",
]
