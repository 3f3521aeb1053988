"""Redis connection and the RQ queues the processes share."""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from rq import Queue

from bot.core.settings import Settings

WEBHOOK_QUEUE = "webhooks"  # handling shoppers' events (worker)
DISPATCH_QUEUE = "dispatch"  # the dispatcher and the sweeps (dispatcher)
DELIVERY_QUEUE = "deliveries"  # send batches and restock fan-outs (sender)
DEFAULT_QUEUE = "default"  # everything else, e.g. link notices (worker)
# Order matters for a worker on several queues (dev tools, `worker.py` without --queues): it
# drains earlier queues first, so shoppers' chats beat the dispatcher and bulk sends.
QUEUE_NAMES = (WEBHOOK_QUEUE, DISPATCH_QUEUE, DELIVERY_QUEUE, DEFAULT_QUEUE)

_embedded_server: object | None = None


def connect_redis(settings: Settings) -> Redis:
    """A client for REDIS_URL, or for the in-process stand-in when none is configured."""
    if settings.redis_url:
        # A command whose connection Redis dropped (restart, failover, CLIENT KILL, a network
        # blip) is sent again on a new connection, a few times with a short backoff, instead
        # of failing the request or job that used it. A command repeated after its answer was
        # lost may have run twice: our uses are reads, SET-style writes and RQ enqueues of
        # idempotent jobs, which bear that.
        return Redis.from_url(
            settings.redis_url,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
    return embedded_redis()


def embedded_redis() -> Redis:
    """A fakeredis client; every client in this process sees the same data."""
    import fakeredis

    global _embedded_server
    if _embedded_server is None:
        _embedded_server = fakeredis.FakeServer()
    return fakeredis.FakeRedis(server=_embedded_server)


@dataclass(frozen=True)
class Queues:
    """The project's RQ queues on one Redis connection."""

    connection: Redis

    def get(self, name: str) -> Queue:
        if name not in QUEUE_NAMES:
            raise KeyError(f"unknown queue {name!r}")
        return Queue(name, connection=self.connection)

    @property
    def webhooks(self) -> Queue:
        return self.get(WEBHOOK_QUEUE)

    @property
    def dispatch(self) -> Queue:
        return self.get(DISPATCH_QUEUE)

    @property
    def deliveries(self) -> Queue:
        return self.get(DELIVERY_QUEUE)

    @property
    def default(self) -> Queue:
        return self.get(DEFAULT_QUEUE)

    def all(self) -> list[Queue]:
        return [self.get(name) for name in QUEUE_NAMES]

    def named(self, names: str) -> list[Queue]:
        """The queues of a comma-separated list (`webhooks,default`), in that order."""
        wanted = [name.strip() for name in names.split(",") if name.strip()]
        if not wanted:
            raise KeyError("no queue named")
        return [self.get(name) for name in wanted]
