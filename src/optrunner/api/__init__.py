"""The trading service's HTTP side: REST, WebSocket and Prometheus metrics (docs/service.md)."""

from optrunner.api.app import create_app

__all__ = ["create_app"]
