"""Content negotiation: what an ``Accept`` header asks for."""

from __future__ import annotations


def accept_quality(accept: str | None) -> dict[str, float]:
    """Each media type the header names (lower case, in the order first named) with the
    highest quality it is given; a malformed ``q`` counts as 0 (not acceptable)."""
    quality: dict[str, float] = {}
    for item in (accept or "").split(","):
        media, *params = (p.strip() for p in item.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        quality[media] = max(q, quality.get(media, 0.0))
    return quality
