"""Freeze-quantity slicing: an order above the exchange's per-order limit becomes whole-lot children.

Lot size and freeze limit always come from the instrument specs (lot by the contract's
expiry, freeze by the trade date), never from constants: both changed repeatedly in 2024-26
and the reference iceberg service broke on exactly that (REFERENCE_SYSTEMS §3.4).
"""

from __future__ import annotations

from datetime import date

from optrunner.execution.states import InvalidOrder
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.specs import get_index


def slice_quantities(quantity: int, lot: int, freeze: int, *, freeze_inclusive: bool = False) -> list[int]:
    """Child quantities: as many of the largest allowed whole-lot child as fit, then the rest.

    The largest child is the biggest lot multiple strictly below ``freeze`` (or equal to it
    when ``freeze_inclusive``), giving ceil(quantity / max_child) children. Example: 2,600
    NIFTY units, lot 65, freeze 1,800 -> [1755, 845].
    """
    if not isinstance(quantity, int) or quantity <= 0 or quantity % lot:
        raise InvalidOrder(f"quantity {quantity!r} is not a positive multiple of the lot size {lot}")
    cap = freeze if freeze_inclusive else freeze - 1
    max_lots = cap // lot
    if max_lots < 1:
        raise InvalidOrder(f"freeze limit {freeze} does not allow even one lot of {lot}")
    full, rest = divmod(quantity // lot, max_lots)
    return [max_lots * lot] * full + ([rest * lot] if rest else [])


def slices_for(
    contract: OptionContract, quantity: int, trade_date: date, *, freeze_inclusive: bool = False
) -> list[int]:
    """:func:`slice_quantities` with the lot and freeze limit ``contract`` has on ``trade_date``."""
    spec = get_index(contract.underlying)
    try:
        return slice_quantities(
            quantity,
            spec.lot_size(contract.expiry),
            spec.freeze_qty(trade_date),
            freeze_inclusive=freeze_inclusive,
        )
    except InvalidOrder as exc:
        raise InvalidOrder(f"{contract.id}: {exc}") from None
