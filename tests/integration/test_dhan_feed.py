"""Dhan's Live Market Feed against the fake Dhan: the index in ticker mode and ATM ± N options in
full mode, a chain with each strike's bid/ask/ltp right, re-centring (unsubscribe + subscribe),
reconnect + resubscribe after a dropped socket and after a disconnect packet, malformed packets
counted without losing the connection, staleness, and a refused token until a new login."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fakes import dhan_packets as P
from fakes.dhan_server import CSV_HEADER, DhanFake, create_app, instrument_row
from fakes.server_thread import ServerThread
from optrunner.core.clock import LiveClock
from optrunner.core.types import Right
from optrunner.execution.brokers.dhan.marketfeed import ChainInstruments, DhanMarketFeed
from optrunner.execution.brokers.dhan.symbols import parse_scrip_master
from optrunner.execution.brokers.live.chain import LiveChain
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from optrunner.instruments.contracts import OptionContract
from waiting import wait

EXPIRY = LiveClock().now().date() + timedelta(days=9)
STRIKES = [25000.0 + 50 * i for i in range(21)]
SPOT = ("IDX_I", "13")
SEG = {"IDX_I": P.IDX_I, "NSE_FNO": P.NSE_FNO}



def rows() -> list[str]:
    out, sid = [], 40000
    for k in STRIKES:
        for r in ("CE", "PE"):
            sid += 1
            out.append(instrument_row(str(sid), "NIFTY", EXPIRY.isoformat(), k, r, 75))
    return out


def price(sid: int) -> float:
    """Each option its own price (security id 40001.. -> 1.00, 1.50, ...), so rows cannot swap."""
    return 1.0 + 0.5 * (sid - 40001)


def push_chain(fake: DhanFake, spot: float) -> None:
    """One message: spot (ticker) and every subscribed option (full)."""
    frame = P.ticker(P.IDX_I, 13, spot)
    for seg, sid in sorted(fake.feed_subscribed):
        if seg != "IDX_I":
            p = price(int(sid))
            frame += P.full(SEG[seg], int(sid), p, p - 0.05, p + 0.05, bid_qty=750, ask_qty=600, oi=1000 + int(sid))
    fake.push_feed(frame)


def one_socket_with(fake: DhanFake, n: int) -> bool:
    """The old connection is gone and the new one has subscribed ``n`` instruments."""
    return len(fake._feed_subs) == 1 and len(fake.feed_subscribed) == n


@pytest.fixture
def setup() -> Iterator[tuple[DhanFake, LiveChain, DhanMarketFeed, dict[OptionContract, int]]]:
    fake = DhanFake(instruments_csv=CSV_HEADER + "\n" + "\n".join(rows()) + "\n")
    inst = parse_scrip_master(fake.instruments_csv).instruments
    sids = {c: int(i.security_id) for c, i in inst.items()}
    with ServerThread(create_app(fake)) as server:
        chain = LiveChain("NIFTY", EXPIRY, ChainInstruments(inst), width=3)
        feed = DhanMarketFeed(server.ws_url + "/", fake.client_id, Secret(fake.access_token), [chain],
                              stale_seconds=0.4, max_backoff=0.2).start()  # fmt: skip
        yield fake, chain, feed, sids
        feed.stop()


def test_chain_from_full_packets_recentres_and_reconnects(setup) -> None:  # type: ignore[no-untyped-def]
    fake, chain, feed, sids = setup
    assert wait(lambda: fake.feed_subscribed == {SPOT: 15})  # only the index (ticker mode) before spot is known
    push_chain(fake, 25510.0)
    assert wait(lambda: len(fake.feed_subscribed) == 1 + 14)  # ATM 25500 +- 3 strikes, CE and PE, full mode
    assert set(fake.feed_subscribed.values()) == {15, 21}
    push_chain(fake, 25510.0)
    assert wait(lambda: (s := chain.snapshot()) is not None and not any(s.bid != s.bid))
    snap = chain.snapshot()
    assert snap is not None and snap.spot == 25510.0 and sorted(set(snap.strike)) == STRIKES[7:14]
    for k in STRIKES[7:14]:
        for r in (Right.CE, Right.PE):
            c = OptionContract("NIFTY", EXPIRY, k, r)
            q = snap.quote_for(c)
            p = price(sids[c])
            assert (q["ltp"], q["bid"], q["ask"]) == pytest.approx((p, p - 0.05, p + 0.05)), (k, r)
            assert (q["bid_qty"], q["ask_qty"], q["oi"]) == (750, 600, 1000 + sids[c])
    n_req = len(fake.feed_requests)
    push_chain(fake, 25710.0)  # 4 strikes up: the window moves to 25550..25850
    new = ("NSE_FNO", str(sids[OptionContract("NIFTY", EXPIRY, 25850.0, Right.PE)]))
    old = ("NSE_FNO", str(sids[OptionContract("NIFTY", EXPIRY, 25350.0, Right.CE)]))
    assert wait(lambda: new in fake.feed_subscribed and old not in fake.feed_subscribed)
    assert len(fake.feed_subscribed) == 15 and 25850.0 in set(chain.strike)
    moved = fake.feed_requests[n_req:]
    assert {m["RequestCode"] for m in moved} == {21, 22}  # unsubscribed the old strikes, subscribed the new
    assert all(m["InstrumentList"][0]["ExchangeSegment"] == "NSE_FNO" for m in moved)

    fake.drop_feed()  # the network drops: reconnect, resubscribe the index and the window
    assert wait(lambda: feed.connects == fake.feed_connects == 2 and one_socket_with(fake, 15))

    fake.push_feed(P.disconnect(805))  # Dhan says goodbye: the feed reconnects all the same
    assert wait(lambda: feed.connects == fake.feed_connects == 3 and one_socket_with(fake, 15))
    assert feed.disconnects == [805]


def test_malformed_packets_are_counted_and_the_feed_lives_on(setup) -> None:  # type: ignore[no-untyped-def]
    fake, chain, feed, _ = setup
    assert wait(lambda: SPOT in fake.feed_subscribed)
    fake.push_feed(P.ticker(P.IDX_I, 13, 25490.0) + P.full(P.NSE_FNO, 40001, 1.0, 0.95, 1.05)[:70])
    assert wait(lambda: feed.bad_packets == 1 and chain.spot == 25490.0)  # the packet before the cut one kept
    fake.feed_requests.clear()
    fake.push_feed(bytes([77, 3, 0]))  # garbage: one bad packet, nothing else
    fake.push_feed(P.oi(P.IDX_I, 13, 5))  # no price: spot stays
    assert wait(lambda: feed.bad_packets == 2 and feed.packets == 4)
    assert chain.spot == 25490.0 and feed.connects == 1
    assert wait(lambda: feed.stale(), 2.0)  # no price for 0.4 s
    fake.push_feed(P.ticker(P.IDX_I, 13, 25495.0))
    assert wait(lambda: not feed.stale())


def test_a_refused_token_is_a_disconnect_until_a_new_login(tmp_path: Path) -> None:
    fake = DhanFake(instruments_csv=CSV_HEADER + "\n" + "\n".join(rows()) + "\n")
    inst = parse_scrip_master(fake.instruments_csv).instruments
    store = TokenStore(tmp_path / "tokens")
    with ServerThread(create_app(fake)) as server:
        chain = LiveChain("NIFTY", EXPIRY, ChainInstruments(inst), width=3)
        feed = DhanMarketFeed(server.ws_url + "/", fake.client_id, Secret("not-the-token-0123456789"), [chain],
                              max_backoff=0.2, token_store=store).start()  # fmt: skip
        try:
            assert wait(lambda: 808 in feed.disconnects and feed.errors >= 1)
            assert fake.feed_subscribed == {} and chain.snapshot() is None
            store.save(SessionToken("dhan", Secret(fake.access_token), datetime.now(UTC) + timedelta(hours=1),
                                    fake.client_id))  # fmt: skip  (optrunner broker login dhan, meanwhile)
            assert wait(lambda: fake.feed_subscribed == {SPOT: 15})  # the next reconnection used the new token
        finally:
            feed.stop()
