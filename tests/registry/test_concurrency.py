"""Two caseworkers editing the same case at once: one wins, the other hears 412."""

from __future__ import annotations

import asyncio

from tests.conftest import auth
from tests.registry.factories import case_body

CASEWORKER = auth("caseworker")


async def test_concurrent_patches_with_the_same_etag_one_wins(fresh_registry):
    case = (await fresh_registry.post("/v1/cases", json=case_body(), headers=CASEWORKER)).json()
    url = f"/v1/cases/{case['id']}"
    headers = CASEWORKER | {"If-Match": '"1"'}
    programmes = [f"programme_{i}" for i in range(6)]
    responses = await asyncio.gather(*(
        fresh_registry.patch(url, json={"programme": p}, headers=headers) for p in programmes
    ))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 5, [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 200)
    current = (await fresh_registry.get(url, headers=CASEWORKER)).json()
    assert current["programme"] == winner["programme"]
    assert current["version"] == 2
