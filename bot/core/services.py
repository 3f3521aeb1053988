"""The per-app service container that handlers, jobs and views receive."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app
from redis import Redis

from bot.core.clock import Clock
from bot.core.db import Database
from bot.core.queues import Queues
from bot.core.settings import Settings

if TYPE_CHECKING:  # annotations only: core does not import the parts built on it
    from bot.delivery.events import DeliveryRules
    from bot.faq.store import FaqCache
    from bot.line.beacon import EventBeacon
    from bot.line.gateway import LineGateway
    from bot.line.ingest import EventWriter
    from bot.line.routing import Router
    from bot.sms.provider import SmsProvider
    from flex_templates import TemplateRegistry


@dataclass
class Services:
    """Everything a request or job needs, built once per process by `create_app`.

    The parts above core fill their own fields there: the webhook intake its `event_writer`
    and `event_beacon`,
    the routing table its `router`, the FAQ its per-process matcher cache, the delivery
    engine its `delivery_rules` (the scenario file, loaded and checked once at start-up).
    """

    settings: Settings
    db: Database
    clock: Clock
    redis: Redis
    queues: Queues
    line_factory: Callable[[], LineGateway]
    templates: TemplateRegistry
    event_writer: EventWriter | None = None
    event_beacon: EventBeacon | None = None
    router: Router | None = None
    faq_cache: FaqCache | None = None
    delivery_rules: DeliveryRules | None = None
    # The SMS provider's adapter, built on first use like the LINE gateway (`sms`).
    sms_factory: Callable[[], SmsProvider] | None = None
    _line: LineGateway | None = None
    _sms: SmsProvider | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def line(self) -> LineGateway:
        """The LINE gateway, built on first use (keeps the SDK import off the web path)."""
        if self._line is None:
            with self._lock:
                if self._line is None:
                    self._line = self.line_factory()
        return self._line

    @property
    def sms(self) -> SmsProvider:
        """The SMS provider, built on first use from `sms_factory`."""
        if self._sms is None:
            if self.sms_factory is None:
                raise RuntimeError("no SMS provider: bot.sms.init_app not called")
            with self._lock:
                if self._sms is None:
                    self._sms = self.sms_factory()
        return self._sms


def current_services() -> Services:
    """The current app's services."""
    return current_app.extensions["bot"]
