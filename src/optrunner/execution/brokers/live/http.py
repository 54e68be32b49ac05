"""A small httpx client that speaks the error taxonomy of :mod:`.errors`.

Adapters that call a broker's REST API directly (Dhan, Shoonya, instrument downloads) use
:class:`RestClient`; SDK-based ones (Kite) map the SDK's exceptions instead. Timeouts are
explicit (connect short, read bounded), a connect failure is :class:`~.errors.NotSent`,
a read timeout or reset after the request left is :class:`~.errors.PossiblySent`, and
no message carries a secret. Nothing retries here: resending is the order manager's job
(its rate-limit queue and backoff, ``execution/requests.py``), so it stays deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from optrunner.execution.brokers.live.errors import BadAnswer, NotSent, PossiblySent, classify_http
from optrunner.execution.brokers.live.secrets import redact


class RestClient:
    """``request()`` returns the decoded JSON (or bytes for CSV) or raises from :mod:`.errors`.

    ``headers`` is called per request (the token may change after a re-login); ``error_text``
    pulls the broker's message out of an error body (default: ``message`` or the raw text).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 7.0,
        connect_timeout: float = 3.0,
        headers: Callable[[], Mapping[str, str]] | None = None,
        error_text: Callable[[Any], str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = headers or (lambda: {})
        self._error_text = error_text or _default_error_text
        self._client = httpx.Client(
            base_url=self.base_url, timeout=httpx.Timeout(timeout, connect=connect_timeout), transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, **kw: Any) -> Any:
        what = f"{method} {path}"
        try:
            r = self._client.request(method, path, headers=dict(self._headers()), **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            raise NotSent(f"{what}: not sent ({type(exc).__name__}: {exc})") from None
        except httpx.HTTPError as exc:  # read timeout, reset, protocol error: it may have arrived
            raise PossiblySent(f"{what}: no answer ({type(exc).__name__}: {exc})") from None
        ctype = r.headers.get("content-type", "")
        body: Any = None
        if "json" in ctype:
            try:
                body = r.json()
            except ValueError:
                if r.status_code >= 500:
                    raise PossiblySent(f"{what}: HTTP {r.status_code}", r.status_code) from None
                raise BadAnswer(f"{what}: HTTP {r.status_code} with a body that is not JSON", r.status_code) from None
        err = classify_http(r.status_code, f"{what}: HTTP {r.status_code}: {redact(self._error_text(body if body is not None else r.text[:200]))}")
        if err is not None:
            raise err from None
        if body is not None:
            return body
        if "csv" in ctype or "text/plain" in ctype or "octet-stream" in ctype:
            return r.content
        raise BadAnswer(f"{what}: unexpected content type {ctype!r}", r.status_code)


def _default_error_text(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("emsg") or body.get("errorMessage") or body)[:300]
    return str(body)[:300]


__all__ = ["RestClient"]
