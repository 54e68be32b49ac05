"""The shared layer under every real-broker adapter (Kite, Dhan, Shoonya, Breeze).

Each adapter (``execution/brokers/<name>/``) brings only what is specific to its broker —
endpoints, field names, status words, symbols — and reuses from here:

* :mod:`.secrets` — credentials wrapped so they never print, and log/error redaction;
* :mod:`.settings` — ``api_root``/``ws_root``/credentials from the settings file, env
  (``OPTRUNNER_<BROKER>_API_ROOT`` ...) or a secrets file;
* :mod:`.tokens` — the day's session token, stored 0600 with its expiry;
* :mod:`.errors` — the outcome taxonomy every adapter maps its failures to
  (rate limited, not sent, possibly sent, session expired, unparseable answer, refused);
* :mod:`.http` — an httpx client that applies that taxonomy to raw REST calls;
* :mod:`.master` — the daily instrument-master download cache;
* :mod:`.tracking` — broker orders/trades in our terms, client-id tags (kept in a file);
* :mod:`.adapter` — :class:`LiveBroker`, the ``Broker``/``ReconcilableBroker`` skeleton:
  order tracking by client id, status mapping, fills from the broker's trade book,
  de-duplication of WebSocket and polled updates, session-expiry halts.
"""
