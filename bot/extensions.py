"""The per-app service container that handlers, jobs and blueprints receive."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app
from redis import Redis

from bot.clock import Clock
from bot.db import Database
from bot.ingest import EventWriter
from bot.line import LineGateway, SdkLineGateway
from bot.queues import Queues
from bot.services.faq_store import FaqCache
from bot.settings import Settings
from flex_templates import TemplateRegistry


@dataclass
class Services:
    """Everything a request or job needs, built once per process by `create_app`."""

    settings: Settings
    db: Database
    clock: Clock
    redis: Redis
    queues: Queues
    line_factory: Callable[[], LineGateway]
    templates: TemplateRegistry
    event_writer: EventWriter = field(init=False)
    faq_cache: FaqCache = field(default_factory=FaqCache)  # this process's FAQ matcher
    _line: LineGateway | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        from bot import jobs

        def enqueue(ids: list[int]) -> None:
            self.queues.webhooks.enqueue(jobs.handle_webhook_events, ids, retry=jobs.WEBHOOK_RETRY)

        self.event_writer = EventWriter(self.db, self.clock, enqueue)

    @property
    def line(self) -> LineGateway:
        """The LINE gateway, built on first use (keeps the SDK import off the web path)."""
        if self._line is None:
            with self._lock:
                if self._line is None:
                    self._line = self.line_factory()
        return self._line


def sdk_gateway_factory(settings: Settings) -> Callable[[], LineGateway]:
    """Factory for the real gateway with the configured base URL and timeouts."""
    return lambda: SdkLineGateway(
        settings.line_channel_access_token,
        settings.line_api_base_url,
        connect_timeout=settings.line_connect_timeout,
        read_timeout=settings.line_read_timeout,
    )


def services() -> Services:
    """The current app's services."""
    return current_app.extensions["bot"]
