"""Keeps the same API request from being sent twice within a minute.

The API counts polling one request more often than once a minute as abuse
(and serves it from its cache anyway), whichever of our processes sends it.
Two records together say when a request was last made:

* The database: every API page stored, by the web app or the refresher, has
  its ``ResultPage.fetched_at``.  The web app only fetches pages that are not
  stored yet and stores them at once, so for its requests this record is
  enough; the refresher plans its cycle from it (:func:`ready_at`) and leaves
  a search whose pages were fetched less than a minute ago until that minute
  has passed.
* Redis, for the refresher's own requests: right before sending one, it
  claims the request's key with ``SET key 1 NX PX 60000``.  This covers what the
  database cannot see, a request whose answer was never stored because the
  refresher was killed, or its transaction rolled back, after sending it.

When Redis cannot be reached the database record alone is used: a request
sent just before a crash may then be repeated, which only costs one call of
the quota.  Keys are the SHA-256 of the method and its parameters, sorted, so
the same request spelled in another order is the same key.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

import redis

WINDOW = 60.0
KEY_PREFIX = "stackwatch:request:"


def request_key(method: str, params: Mapping[str, Any]) -> str:
    """The Redis key of one request: its method and parameters, hashed."""
    canonical = json.dumps(
        [method.strip("/"), sorted((str(k), str(v)) for k, v in params.items())],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return KEY_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def ready_at(
    fetched: Iterable[datetime | None], window: float = WINDOW
) -> datetime | None:
    """When pages last fetched at ``fetched`` may all be requested again."""
    times = [when for when in fetched if when is not None]
    return max(times) + timedelta(seconds=window) if times else None


class RequestLog:
    """The Redis half of the log: claims on requests about to be sent.

    Args:
        client: a Redis client, or None to rely on the database alone.
        window: seconds during which a request may not be sent again.
    """

    def __init__(self, client: redis.Redis | None, window: float = WINDOW):
        self.client = client
        self.window = window

    def claim(self, method: str, params: Mapping[str, Any]) -> float:
        """Record that a request is about to be sent.

        Returns 0 when it may be sent now, otherwise the seconds until the
        earlier one is a window old.  Without Redis, always 0.

        Raises:
            redis.RedisError: Redis could not be reached; the caller decides
                whether to go on with the database record alone.
        """
        if self.client is None:
            return 0.0
        key = request_key(method, params)
        milliseconds = max(1, int(self.window * 1000))
        # The earlier claim may expire between SET and PTTL; then try again.
        for _ in range(2):
            if self.client.set(key, "1", nx=True, px=milliseconds):
                return 0.0
            left = self.client.pttl(key)
            if left > 0:
                return left / 1000.0
        return 0.0
