"""Lease, batch window, timeouts and health thresholds are checked together at start."""

from __future__ import annotations

import pytest

from bot.core.settings import ConfigError, Settings, batch_bound_seconds

DEV = {"APP_ENV": "development"}


def test_defaults_bound_a_batch_within_its_lease_and_recover_within_a_minute():
    settings = Settings.from_env(DEV)
    assert batch_bound_seconds(settings) <= settings.delivery_lease_seconds
    assert settings.delivery_lease_seconds + settings.dispatch_interval_seconds <= 60
    assert settings.health_max_dispatch_age_seconds >= 2 * settings.dispatch_interval_seconds


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DELIVERY_LEASE_SECONDS": "30"}, "DELIVERY_LEASE_SECONDS"),
        ({"LINE_READ_TIMEOUT": "30"}, "DELIVERY_LEASE_SECONDS"),
        ({"DELIVERY_BATCH_SECONDS": "40"}, "DELIVERY_LEASE_SECONDS"),
        ({"DISPATCH_INTERVAL_SECONDS": "60"}, "HEALTH_MAX_DISPATCH_AGE_SECONDS"),
        ({"HEALTH_MAX_DUE_AGE_SECONDS": "soon"}, "HEALTH_MAX_DUE_AGE_SECONDS"),
    ],
)
def test_timings_that_cannot_work_together_stop_the_start(env, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env({**DEV, **env})


def test_a_longer_lease_allows_a_longer_batch():
    settings = Settings.from_env(
        {**DEV, "DELIVERY_LEASE_SECONDS": "120", "DELIVERY_BATCH_SECONDS": "90"}
    )
    assert (settings.delivery_lease_seconds, settings.delivery_batch_seconds) == (120, 90)
