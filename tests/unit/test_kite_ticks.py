"""Kite Ticker binary frames: our NumPy parser checked against the official SDK's own parser
(``KiteTicker._parse_binary``) on the same bytes, and the live chain built from ticks."""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pytest

from fakes.kite_server import (
    full_packet,
    index_packet,
    instrument_csv,
    ltp_packet,
    quote_packet,
    tick_frame,
)
from optrunner.core.types import Right
from optrunner.execution.brokers.kite.symbols import KiteInstruments, UnknownInstrument
from optrunner.execution.brokers.kite.ticks import TickParseError, parse_frame
from optrunner.execution.brokers.live.chain import LiveChain
from optrunner.instruments.contracts import OptionContract

EXPIRY = date(2026, 12, 29)
CONTRACTS = [OptionContract("NIFTY", EXPIRY, 24000.0 + 50 * i, r) for i in range(-40, 41) for r in (Right.CE, Right.PE)]


def sdk_parse(frame: bytes) -> list[dict]:
    from kiteconnect import KiteTicker

    return KiteTicker("k", "t")._parse_binary(frame)


def test_parser_agrees_with_the_sdk_on_every_packet_kind() -> None:
    rnd = random.Random(7)
    packets = []
    for _ in range(200):
        tok = rnd.choice([256265, 265, 10_000_002 + 256 * rnd.randrange(100), 3 + 256 * 77, 6 + 256 * 5])
        px = round(rnd.uniform(0.05, 30000), 2)
        kind = rnd.choice(["ltp", "quote", "full", "index28", "index32"])
        if kind == "ltp":
            packets.append(ltp_packet(tok, px))
        elif kind == "quote":
            packets.append(quote_packet(tok, px, volume=rnd.randrange(10**6)))
        elif kind == "full":
            packets.append(full_packet(tok, px, px - 0.05, px + 0.05, oi=rnd.randrange(10**7), ts=1764900000))
        else:
            packets.append(index_packet(tok, px, 1764900000 if kind == "index32" else None))
    frame = tick_frame(packets)
    ours = parse_frame(frame)
    ref = sdk_parse(frame)
    assert len(ours) == len(ref) == 200
    # packets come out grouped by length (each group in frame order): compare as sorted lists
    key = lambda tok, px: (tok, round(px, 7))  # noqa: E731
    assert sorted(key(int(t), float(p)) for t, p in zip(ours.token, ours.ltp, strict=True)) == \
        sorted(key(d["instrument_token"], d["last_price"]) for d in ref)  # fmt: skip
    full = [d for d in ref if d["mode"] == "full" and "depth" in d]
    for d in full:
        i = int(np.flatnonzero((ours.token == d["instrument_token"]) & np.isclose(ours.ltp, d["last_price"]))[0])
        assert ours.bid[i] == pytest.approx(d["depth"]["buy"][0]["price"])
        assert ours.ask[i] == pytest.approx(d["depth"]["sell"][0]["price"])
        assert ours.oi[i] == d["oi"] and ours.volume[i] == d["volume_traded"]
    assert int(ours.is_index.sum()) == sum(1 for d in ref if "ohlc" in d and "volume_traded" not in d) > 0
    assert any(d["instrument_token"] & 0xFF == 3 for d in ref)  # a currency token: the 10^7 divisor was checked


def test_heartbeat_and_truncated_frames() -> None:
    assert len(parse_frame(b"\x00")) == 0
    with pytest.raises(TickParseError, match="truncated packet"):
        parse_frame(tick_frame([ltp_packet(1, 1.0), ltp_packet(2, 2.0)])[:-3])
    with pytest.raises(TickParseError, match="truncated frame"):
        parse_frame(tick_frame([ltp_packet(1, 1.0)]).replace(b"\x00\x01", b"\x00\x03", 1))
    with pytest.raises(TickParseError, match="unknown Kite packet length 12"):
        parse_frame(tick_frame([b"\x00" * 12, ltp_packet(1, 1.0)]))


def test_instrument_master_maps_to_contracts_and_refuses_unknown_or_expired() -> None:
    inst = KiteInstruments.from_csv(instrument_csv(CONTRACTS), date(2026, 12, 4))
    c = CONTRACTS[80]
    i = inst.instrument(c)
    assert i.tradingsymbol == "NIFTY26DEC24000CE" and i.exchange == "NFO" and inst.contract_of("NFO", i.tradingsymbol) == c
    assert inst.index_token["NIFTY"] == 256265
    with pytest.raises(UnknownInstrument, match="not in today's Kite instrument master"):
        inst.instrument(OptionContract("NIFTY", EXPIRY, 24010.0, Right.CE))
    with pytest.raises(UnknownInstrument, match="expired"):
        inst.instrument(c, EXPIRY.replace(day=30))


def test_live_chain_window_recentres_and_prices_greeks() -> None:
    inst = KiteInstruments.from_csv(instrument_csv(CONTRACTS), None)
    chain = LiveChain("NIFTY", EXPIRY, inst, width=5, recentre_steps=2)
    assert chain.snapshot() is None  # no spot yet
    chain.apply(parse_frame(tick_frame([index_packet(256265, 24010.0)])))
    add, drop = chain.recentre()
    assert len(add) == 22 and not drop and sorted(set(chain.strike)) == [23750.0 + 50 * i for i in range(11)]
    pk = []
    for k, c, tok in zip(chain.strike, chain.is_call, chain.tokens, strict=True):
        intrinsic = max(0.0, 24010 - k) if c else max(0.0, k - 24010)
        px = round(intrinsic + 120 * np.exp(-((k - 24010) / 400) ** 2) + 5, 1)
        pk.append(full_packet(int(tok), px, px - 0.5, px + 0.5))
    chain.apply(parse_frame(tick_frame(pk)))
    snap = chain.snapshot()
    assert snap is not None and len(snap) == 22 and snap.spot == 24010.0
    atm_ce = snap.quote_for(OptionContract("NIFTY", EXPIRY, 24000.0, Right.CE))
    assert atm_ce is not None and atm_ce["bid"] + 1.0 == atm_ce["ask"] and 0.4 < atm_ce["delta"] < 0.65
    chain.apply(parse_frame(tick_frame([index_packet(256265, 24060.0)])))
    assert chain.recentre() == (set(), set())  # one strike: inside the hysteresis
    chain.apply(parse_frame(tick_frame([index_packet(256265, 24160.0)])))
    add, drop = chain.recentre()
    assert len(add) == len(drop) == 6 and max(chain.strike) == 24400.0
    kept = chain.snapshot()
    assert kept is not None and kept.quote_for(OptionContract("NIFTY", EXPIRY, 24000.0, Right.CE))["bid"] == atm_ce["bid"]
