"""``/metrics``: Prometheus text on every service, requests labelled by route template
(never a raw path or an id), domain counters that move when the work commits, and the
change feeds' lag and stall gauges."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import auth


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_requests_are_counted_by_route_template_never_by_raw_path(registry):
    case_id = str(uuid.uuid4())
    labels = {"method": "GET", "route": "/v1/cases/{case_id}", "status": "404"}
    before = value("waymark_http_requests_total", **labels)
    response = await registry.get(f"/v1/cases/{case_id}", headers=auth("caseworker"))
    assert response.status_code == 404
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    before_unmatched = value("waymark_http_requests_total", **unmatched)
    await registry.get("/no/such/+447911123456")
    odd = {"method": "other", "route": "/v1/cases", "status": "405"}
    before_odd = value("waymark_http_requests_total", **odd)
    await registry.request("BREW", "/v1/cases")

    response = await registry.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = scraped(response.text)
    assert samples[("waymark_http_requests_total", tuple(sorted(labels.items())))] == before + 1
    assert samples[("waymark_http_requests_total", tuple(sorted(unmatched.items())))] == (
        before_unmatched + 1)
    assert samples[("waymark_http_requests_total", tuple(sorted(odd.items())))] == before_odd + 1
    latency = ("waymark_http_request_duration_seconds_count",
               (("method", "GET"), ("route", "/v1/cases/{case_id}")))
    assert samples[latency] >= 1
    # No id, no number, no raw path anywhere in the labels.
    for _, label_items in samples:
        for _, label in label_items:
            assert case_id not in label and "447911123456" not in label and "/no/" not in label


async def test_a_body_too_large_is_counted_under_its_route(registry):
    labels = {"method": "POST", "route": "/v1/cases", "status": "413"}
    before = value("waymark_http_requests_total", **labels)
    response = await registry.post("/v1/cases", content=b"x" * (65 * 1024),
                                   headers=auth("caseworker"))
    assert response.status_code == 413
    assert value("waymark_http_requests_total", **labels) == before + 1


@pytest.mark.parametrize("service", ["registry", "checkin", "notifications"])
async def test_every_service_serves_metrics(service, database_urls):
    from asgi_lifespan import LifespanManager

    from tests.conftest import client_for
    from tests.contracts.test_caseloads import make_app

    app = make_app(service, database_urls)
    async with LifespanManager(app), client_for(app, service) as client:
        await client.get("/healthz")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert "waymark_http_requests_total" in response.text
