"""Shoonya (Finvasia NorenOMS) adapter: orders, books and QuickAuth login over REST (see adapter.py)."""
