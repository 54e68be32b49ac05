"""Live and paper nodes: the feed server, and (later) broker-connected wiring and reconciliation."""
