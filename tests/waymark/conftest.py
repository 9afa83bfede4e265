"""The command line plays the person's phone against checkin: checkin's fixtures."""

from tests.checkin.conftest import case, checkin, checkin_app, clock  # noqa: F401
