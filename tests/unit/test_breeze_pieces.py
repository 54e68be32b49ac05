"""Breeze pieces that need no server: the REST checksum, the answer taxonomy, settings
(``secret_key`` as Breeze names the API secret; never printed), the session token decoding,
and the security master's BFO (SENSEX) file keyed apart from NFO tokens."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from fakes.breeze_server import FONSE_HEADER, master_row
from optrunner.core.errors import UserError
from optrunner.core.types import Right
from optrunner.execution.brokers.breeze.auth import decode_session, signed_headers, timestamp
from optrunner.execution.brokers.breeze.config import breeze_settings, login_url
from optrunner.execution.brokers.breeze.errors import check
from optrunner.execution.brokers.breeze.symbols import BFO_OFFSET, INDEX_KEYS, parse_master
from optrunner.execution.brokers.live.chain import LiveChain
from optrunner.execution.brokers.live.errors import (
    BadAnswer,
    BrokerRefused,
    RateLimited,
    SessionExpired,
)
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import SessionToken
from optrunner.instruments.contracts import OptionContract

EXPIRY = date(2026, 12, 17)


def settings(tmp: Path, **env: str):  # type: ignore[no-untyped-def]
    base = {"OPTRUNNER_BREEZE_API_KEY": "K%834G9%)2M9z75", "OPTRUNNER_BREEZE_SECRET_KEY": "a69+y9097T9r2793"}
    return breeze_settings(environ=base | env, secrets_file=tmp / "none.json")


def test_signed_headers_carry_the_documented_checksum(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert s.api_secret is not None and "a69+y9097T9r2793" not in repr(s)  # secret_key is the API secret
    tok = SessionToken("breeze", Secret("session-key-1234"), datetime.now(UTC) + timedelta(hours=1), "USER01")
    now = datetime(2026, 12, 7, 4, 5, 6, 789000, tzinfo=UTC)
    body = '{"stock_code":"NIFTY"}'
    h = signed_headers(s, tok, body, now)
    assert h["X-Timestamp"] == timestamp(now) == "2026-12-07T04:05:06.000Z"
    assert h["X-Checksum"] == "token " + hashlib.sha256(("2026-12-07T04:05:06.000Z" + body + "a69+y9097T9r2793").encode()).hexdigest()
    assert h["X-AppKey"] == "K%834G9%)2M9z75"
    assert base64.b64decode(h["X-SessionToken"]).decode() == "USER01:session-key-1234"


def test_login_url_encodes_the_key(tmp_path: Path) -> None:
    assert login_url(settings(tmp_path).api_key) == "https://api.icicidirect.com/apiuser/login?api_key=K%25834G9%25%292M9z75"


def test_bad_urls_and_missing_credentials_are_clear(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="OPTRUNNER_BREEZE_WS_ROOT"):
        settings(tmp_path, OPTRUNNER_BREEZE_WS_ROOT="livestream.icicidirect.com")
    bare = breeze_settings(environ={}, secrets_file=tmp_path / "none.json")
    with pytest.raises(UserError, match="OPTRUNNER_BREEZE_API_KEY, OPTRUNNER_BREEZE_API_SECRET"):
        bare.require("api_key", "api_secret")


@pytest.mark.parametrize(("answer", "exc"), [
    ({"Success": None, "Status": 500, "Error": "Invalid session."}, SessionExpired),
    ({"Success": None, "Status": 500, "Error": "Resource not available."}, SessionExpired),
    ({"Success": None, "Status": 500, "Error": "Public Key does not exist."}, BrokerRefused),
    ({"Success": None, "Status": 429, "Error": "Limit exceed: try after some time"}, RateLimited),
    ({"Success": None, "Status": 200, "Error": None}, BrokerRefused),
    ({"Status": "x"}, BadAnswer),
    (["not", "an", "object"], BadAnswer),
])  # fmt: skip
def test_answers_map_onto_the_taxonomy(answer: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        check(answer, "customerdetails")


def test_check_returns_success() -> None:
    assert check({"Success": {"a": 1}, "Status": 200, "Error": None}, "x") == {"a": 1}


def test_decode_session_refuses_what_is_not_user_colon_key() -> None:
    assert decode_session(base64.b64encode(b"U1:k:with:colons").decode()) == ("U1", "k:with:colons")
    for bad in ("not base64!", base64.b64encode(b"nocolon").decode(), None):
        with pytest.raises(UserError, match="not base64 of user:key"):
            decode_session(bad)


def test_bfo_sensex_rows_are_keyed_apart_from_nfo() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("FONSEScripMaster.txt", FONSE_HEADER + "\n" + master_row(842701, "CNXBAN", EXPIRY, 52000.0, "CE", 30) + "\n")
        z.writestr("FOBSEScripMaster.txt", FONSE_HEADER + "\n"
                   + master_row(842701, "BSESEN", EXPIRY, 81000.0, "PE", 20, instrument="OPTIND") + "\n")  # fmt: skip
    inst = parse_master(buf.getvalue(), date(2026, 12, 1))
    bank = inst.require(OptionContract("BANKNIFTY", EXPIRY, 52000.0, Right.CE))
    sensex = inst.require(OptionContract("SENSEX", EXPIRY, 81000.0, Right.PE))
    assert (bank.exchange, bank.token, bank.stream_key) == ("NFO", 842701, "4.1!842701")
    assert (sensex.exchange, sensex.token, sensex.stream_key) == ("BFO", 842701 + BFO_OFFSET, "8.1!842701")
    keys = inst.stream_keys()
    assert keys[bank.token] != keys[sensex.token]
    assert keys[inst.index_token["BANKNIFTY"]] == INDEX_KEYS["BANKNIFTY"] == "4.1!NIFTY BANK"  # no NSE file: known key
    assert "SENSEX" not in inst.index_token  # no BSE row names it: no guessed key
    with pytest.raises(ValueError, match="no index row for SENSEX"):
        LiveChain("SENSEX", EXPIRY, inst)


def test_index_keys_come_from_the_cash_masters() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("FONSEScripMaster.txt", FONSE_HEADER + "\n" + master_row(1, "NIFTY", EXPIRY, 25000.0, "CE", 65) + "\n")
        z.writestr("NSEScripMaster.txt", '"Token", "ShortName", "Series", "CompanyName"\n'
                   '"2885","RELIND","EQ","RELIANCE INDUSTRIES"\n"NIFTY 50","NIFTY","0","NIFTY 50"\n'
                   '"NIFTY BANK","CNXBAN","0","NIFTY BANK"\n')  # fmt: skip
        z.writestr("BSEScripMaster.txt", '"Token","ShortName","Series","CompanyName"\n"999901","BSESEN","0","SENSEX"\n')
    inst = parse_master(buf.getvalue(), date(2026, 12, 1))
    assert inst.index_keys == {"NIFTY": "4.1!NIFTY 50", "BANKNIFTY": "4.1!NIFTY BANK", "SENSEX": "1.1!999901"}
    assert inst.stream_keys()[inst.index_token["SENSEX"]] == "1.1!999901"
