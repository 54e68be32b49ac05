"""Turn the public functions' scalar-or-array arguments into the flat columns the loops read."""

from __future__ import annotations

from math import prod
from typing import Any

import numpy as np


def as_columns(**named: Any) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Broadcast the arguments; return the result shape and one flat float64 column each.

    A column has one entry per result element, or exactly one entry when the argument is a
    single value (the loops read it with step 0, so a scalar r is never copied a million
    times). Booleans become 1.0/0.0. Raises TypeError / ValueError naming the argument.
    This sits on the 80-option refresh path, hence the fast path for the common case
    (columns of one shape plus plain numbers) before NumPy's general broadcasting.
    """
    arrays = []
    for name, value in named.items():
        try:
            arrays.append(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a number or an array of numbers, got {value!r:.80}"
            ) from None
    shapes = {a.shape for a in arrays if a.ndim}
    if len(shapes) == 1:  # plain numbers (0-d) broadcast against anything
        (shape,) = shapes
    elif not shapes:
        shape = ()
    else:
        try:
            shape = np.broadcast_shapes(*(a.shape for a in arrays))
        except ValueError:
            given = ", ".join(f"{name}{a.shape}" for name, a in zip(named, arrays, strict=True))
            raise ValueError(f"arguments do not broadcast to one shape: {given}") from None
    n = prod(shape)
    columns = []
    for a in arrays:
        if a.ndim == 1 and (a.size == n or a.size == 1) and a.flags.c_contiguous:
            columns.append(a)
        elif a.size == 1:
            columns.append(a.reshape(1))
        elif a.shape == shape:
            columns.append(np.ascontiguousarray(a).reshape(n))
        else:
            columns.append(np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(n))
    return shape, columns
