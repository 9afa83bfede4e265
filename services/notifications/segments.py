"""How an SMS is encoded and how many segments it costs (3GPP TS 23.038).

A text made only of GSM 03.38 characters goes as GSM-7: 160 septets in one
segment, 153 per segment when split (the rest of each is the concatenation header).
Characters of the extension table (``^{}\\[~]|€`` and form feed) take two septets.
Anything else forces UCS-2 for the whole message: 70 UTF-16 units in one segment,
67 per segment when split; a character outside the Basic Multilingual Plane (most
emoji) takes two units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True, slots=True)
class Encoding:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def encode(text: str) -> Encoding:
    """The encoding a carrier will use for ``text`` and its segment count."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / multi)
    return Encoding(encoding=encoding, units=units, segments=segments)
