"""Zerodha Kite Connect: orders through the official ``kiteconnect`` SDK (optional extra
``optrunner[kite]``, imported lazily), market data through our own Kite Ticker client.

Files: ``config`` (settings), ``auth`` (daily login), ``errors`` (SDK failures -> our
taxonomy), ``symbols`` (instrument master), ``orders`` (:class:`KiteBroker`), ``ticks``
(binary packet parser), ``feed`` (ticker WebSocket + live chain). See docs/brokers.md.
"""
