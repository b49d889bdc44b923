"""Neighbourhood officers (dzielnicowi): who serves an address, kept by the units."""
