"""Contract names as a person reads them: ``NIFTY 06 Oct 26 26250 CE``.

Canonical ids (``NIFTY:20261006:26250:CE``) are for machines and files; a trader reading a
report or a message wants the expiry as a date and the strike as a number. Anything that is
not a canonical id is returned unchanged, so a caller never has to guard its input.
"""

from __future__ import annotations

from optrunner.instruments.contracts import OptionContract, format_strike


def contract_name(contract: OptionContract | str) -> str:
    """``NIFTY 06 Oct 26 26250 CE`` for a contract or its canonical id."""
    if isinstance(contract, str):
        try:
            contract = OptionContract.from_id(contract)
        except ValueError:
            return contract
    return f"{contract.underlying} {contract.expiry:%d %b %y} {format_strike(contract.strike)} {contract.right.value}"


__all__ = ["contract_name"]
