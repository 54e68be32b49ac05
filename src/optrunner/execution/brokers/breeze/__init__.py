"""ICICI Direct Breeze: market data only (login, security master, socket.io quote stream)."""
