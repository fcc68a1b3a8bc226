"""Element symbols shared by the EELS and EDS tools (data from xraydb)."""

from __future__ import annotations


def element_symbol(symbol: str) -> str:
    """The canonical symbol (``"fe"`` -> ``"Fe"``); an unknown element is a ValueError naming it."""
    import xraydb

    sym = str(symbol).strip()
    sym = sym[:1].upper() + sym[1:].lower()
    try:
        xraydb.atomic_number(sym)
    except Exception as exc:  # xraydb raises various errors for unknown symbols
        raise ValueError(f"unknown element {symbol!r}") from exc
    return sym
