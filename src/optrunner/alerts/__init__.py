"""Alerts without Prometheus: seed 001's alert rules evaluated in-process over sliding
windows (``rules``), the service's events (``watch``: kill switch, halts, reconciliation,
feed, recovery, daily summary), and the channels they go to (``channels``: webhook,
Telegram, e-mail), deduplicated and rate limited per rule and delivered off the kernel's
thread (``router``); configured by the account settings' ``alerts`` section (``settings``).
docs/service.md, "Alerts". Import the submodules: this package imports nothing, so reading
an account file does not load the channels' network libraries."""
