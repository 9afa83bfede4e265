"""The registry tests run on one fixed clock (ticking, so ordering by time still
works): dates such as "tomorrow" or a review due in 90 days mean the same on any day
the suite is run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock():
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller
