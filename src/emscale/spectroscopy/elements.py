"""Element symbols shared by the EELS and EDS tools (data from xraydb)."""

from __future__ import annotations

from ..core.errors import DataError


def element_symbol(symbol: str) -> str:
    """The canonical symbol (``"fe"`` -> ``"Fe"``); an unknown element is a DataError naming it."""
    import xraydb

    sym = str(symbol).strip()
    sym = sym[:1].upper() + sym[1:].lower()
    try:
        xraydb.atomic_number(sym)
    except Exception as exc:  # xraydb raises various errors for unknown symbols
        raise DataError(f"unknown element {symbol!r}") from exc
    return sym
