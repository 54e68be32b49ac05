"""The Kite Ticker feed against the fake's WebSocket: subscribe in full mode, re-centre as spot
moves, survive a dropped connection (reconnect + resubscribe), and report staleness."""

from __future__ import annotations

from kite_cases import CE, EXPIRY, start_fake

from fakes.kite_server import API_KEY, full_packet, index_packet, tick_frame
from optrunner.execution.brokers.kite.feed import KiteTickerFeed
from optrunner.execution.brokers.kite.symbols import KiteInstruments
from optrunner.execution.brokers.live.chain import LiveChain
from waiting import wait

TOKEN = "fake-access-token-000000000007"



def test_feed_subscribes_recentres_reconnects_and_goes_stale() -> None:
    fake = start_fake()
    fake.issue_token(TOKEN)
    inst = KiteInstruments.from_csv(fake.instruments, None, {"NIFTY"})
    chain = LiveChain("NIFTY", EXPIRY, inst, width=3)
    feed = KiteTickerFeed(fake.ws_root, API_KEY, TOKEN, [chain], stale_seconds=0.4).start()
    try:
        assert wait(lambda: 256265 in fake.subscribed and fake.modes.get(256265) == "full")
        fake.send_ticks(tick_frame([index_packet(256265, 24010.0, 1764900000)]))
        assert wait(lambda: len(fake.subscribed) == 1 + 14)  # ATM +- 3 strikes, CE and PE
        ce_tok = inst.instrument(CE).token
        fake.send_ticks(tick_frame([full_packet(ce_tok, 120.5, 120.0, 121.0, oi=5000)]))
        assert wait(lambda: chain.snapshot() is not None and chain.snapshot().quote_for(CE)["bid"] == 120.0)
        fake.send_ticks(tick_frame([index_packet(256265, 24210.0)]))  # 4 strikes up: re-centre
        assert wait(lambda: 24000.0 not in set(chain.strike) and 24350.0 in set(chain.strike))
        assert wait(lambda: not any(inst.by_token[t].contract is not None and inst.by_token[t].contract.strike == 24000.0
                                    for t in fake.subscribed))  # fmt: skip
        fake.subscribed.clear()
        fake.drop_ticker()
        assert wait(lambda: feed.connects == 2 and len(fake.subscribed) == 15)  # everything sent again
        assert wait(lambda: feed.stale(), 2.0)
        assert list(feed.snapshots(0.01, until=lambda: True)) == []
        fake.send_ticks(tick_frame([index_packet(256265, 24215.0)]))
        assert wait(lambda: not feed.stale())
    finally:
        feed.stop()
        fake.stop()
