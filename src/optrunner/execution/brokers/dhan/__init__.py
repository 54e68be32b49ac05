"""Dhan (DhanHQ v2) adapter: orders, books and login over Dhan's REST API (see adapter.py)."""
