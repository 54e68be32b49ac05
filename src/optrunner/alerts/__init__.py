"""Alerts without Prometheus: seed 001's alert rules evaluated in-process over sliding
windows, the service's events (kill switch, halts, reconciliation, feed, recovery, daily
summary), and the channels they go to (webhook, Telegram, e-mail), deduplicated and rate
limited per rule, delivered off the kernel's thread. docs/service.md, "Alerts"."""

from optrunner.alerts.model import Alert
from optrunner.alerts.router import AlertRouter
from optrunner.alerts.rules import RULES, RuleEngine

__all__ = ["RULES", "Alert", "AlertRouter", "RuleEngine"]
