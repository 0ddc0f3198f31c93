"""A Redis connection that keeps out of the way while Redis is down or slow.

StackWatch uses Redis as a help, never as a must: the page cache, the shared
API backoff and the daemons' locks all have a way to carry on without it.
:class:`RedisLink` gives them one client with short socket timeouts and one
record of outages.  A command that fails marks Redis down, with one WARNING;
while it is down, commands answer their caller's default at once, and one
caller a second probes Redis again; the first command that works after an
outage logs one INFO.  A dead Redis thus costs nothing per request, and a
slow one at most one timeout a second.  Thread-safe; needs no request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

RETRY_INTERVAL = 1.0
T = TypeVar("T")


class RedisLink:
    """One Redis client plus the state of its current outage, if any.

    Args:
        url: the Redis URL (``redis.url``).
        timeout: connect and read timeout of every command, in seconds.
        retry_interval: how long to leave Redis alone after a failure.
    """

    def __init__(
        self,
        url: str,
        timeout: float,
        retry_interval: float = RETRY_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        # redis-py retries a failed command ten times with growing sleeps by
        # default; one attempt bounded by the timeout is all a page can wait.
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self.address = redis_address(url)
        self.retry_interval = retry_interval
        #: Outages that have ended; lets users resynchronise after one.
        self.outages = 0
        self._outage_starts = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._local = threading.local()
        self._down_since: float | None = None
        self._next_try = 0.0

    @property
    def is_down(self) -> bool:
        return self._down_since is not None

    def run(self, command: Callable[[redis.Redis], T], default: T) -> T:
        """``command(client)``, or ``default`` when Redis is down or fails now."""
        if not self._may_try():
            return default
        try:
            result = command(self.client)
        except redis.RedisError as exc:
            self._failed(exc)
            return default
        if self._down_since is not None:
            self._recovered()
        return result

    def execute(self, *args: str | bytes, default: T) -> Any:
        """One command on this thread's own connection, or ``default``.

        For the hottest reads (a page cache lookup on every request): skipping
        the client's pool, retry and event machinery halves the CPU a command
        costs.  The reply comes as Redis sent it, without redis-py's parsing
        into Python types (``MGET`` gives a list of bytes or None).
        """
        if not self._may_try():
            return default
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.outage != self._outage_starts:
            # Opened before the latest outage began: its socket is dead.
            connection.disconnect()
        self._local.outage = self._outage_starts
        try:
            if connection is None:
                # Taken from the pool for good: after an error it reconnects
                # by itself, on its next command.
                connection = self._local.connection = (
                    self.client.connection_pool.get_connection()
                )
            connection.send_command(*args)
            reply = connection.read_response()
        except redis.RedisError as exc:
            if connection is not None:
                connection.disconnect()
            self._failed(exc)
            return default
        if self._down_since is not None:
            self._recovered()
        return reply

    def _may_try(self) -> bool:
        if self._down_since is None:
            return True
        with self._lock:
            now = self._clock()
            if now < self._next_try:
                return False
            # This caller probes; the others keep skipping Redis meanwhile.
            self._next_try = now + self.retry_interval
            return True

    def _failed(self, exc: redis.RedisError) -> None:
        with self._lock:
            self._next_try = self._clock() + self.retry_interval
            if self._down_since is not None:
                return
            self._down_since = self._clock()
            self._outage_starts += 1
        log.warning(
            "redis at %s unavailable, carrying on without it: %s", self.address, exc
        )
        # Idle connections opened before the outage are dead: drop them so
        # that the next probe connects afresh.
        self.client.connection_pool.disconnect(inuse_connections=False)

    def _recovered(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            lasted = self._clock() - self._down_since
            self._down_since = None
            self.outages += 1
        log.info("redis at %s is back after %.1f s", self.address, lasted)


def redis_address(url: str) -> str:
    """Where ``url`` points, for logs: host and port or socket path, no password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
