"""Helpers for the tests of live notices: events, and a notifier in a thread.

The refresher stores an ``Event`` whose payload is the JSON message, commits,
then publishes the same JSON on the Redis channel.  These helpers do the same
for tests of the notifier and the browser side, and can also leave out either
half to play a lost message or an event stored while Redis was down.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import timedelta

import redis
from sqlalchemy import select
from websockets.sync.client import connect

from daemons.notifier import run
from webapp.models import Event, ResultPage, SavedSearch
from webapp.services.api_state import utcnow
from webapp.services.searches import save_search
from webapp.services.sites import ensure_site
from webapp.services.storage import write_session

CHANNEL = "stackwatch:updates"


def saved_search(
    session_factory, query: str = "python", site: str = "stackoverflow"
) -> int:
    """Store a search for ``query`` on ``site`` and return its id."""
    return save_search(
        session_factory, ensure_site(session_factory, site), {"q": query}
    )


def store_event(
    session_factory, search_id: int, new: int = 3, changed: int = 2, age: float = 0
) -> str:
    """Store an event of ``search_id`` as the refresher does; return its JSON.

    ``age`` backdates it, for events the notifier's sweep should consider old.
    """
    when = utcnow() - timedelta(seconds=age)
    with write_session(session_factory) as session:
        search = session.get(SavedSearch, search_id)
        event = Event(search_id=search_id, created_at=when, payload="")
        session.add(event)
        session.flush()
        event.payload = json.dumps(
            {
                "event_id": event.id,
                "search_id": search_id,
                "site": search.site.api_name,
                "query": search.query,
                "new": new,
                "changed": changed,
                "time": when.isoformat(timespec="seconds") + "Z",
                "url": f"/searches/{search_id}",
            },
            ensure_ascii=False,
        )
        return event.payload


def backdate_pages(session_factory, seconds: float = 120) -> None:
    """Make every stored page look fetched ``seconds`` earlier.

    The refresher repeats no request within a minute, so pages a test has
    just viewed are only refreshed once they look older than that.
    """
    with session_factory.begin() as session:
        for page in session.scalars(select(ResultPage)):
            page.fetched_at -= timedelta(seconds=seconds)


def publish(redis_url: str, payload: str, channel: str = CHANNEL) -> int:
    """Publish ``payload``; returns how many subscribers Redis handed it to."""
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    try:
        return client.publish(channel, payload)
    finally:
        client.close()


def announce(session_factory, redis_url: str, search_id: int, **counts) -> dict:
    """Store and publish one event, like one refresh that found changes."""
    payload = store_event(session_factory, search_id, **counts)
    publish(redis_url, payload)
    return json.loads(payload)


class NotifierThread:
    """The notifier's ``run`` coroutine on its own event loop, in a thread.

    ``origin`` is the one the readiness check connects with.
    """

    def __init__(self, config, origin: str):
        self.config = config
        self.origin = origin
        self.error: BaseException | None = None
        self._loop = self._stop = None
        self._thread = threading.Thread(target=self._main, name="notifier", daemon=True)

    def url(self, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.config.port}/ws" + (f"?{query}" if query else "")

    def start(self) -> "NotifierThread":
        self._thread.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError(
                    "the notifier stopped while starting"
                ) from self.error
            try:
                with connect(self.url(), origin=self.origin, open_timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the notifier did not start listening")

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def wait(self, timeout: float) -> bool:
        """Wait for the notifier to end on its own; True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self.error = exc

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        await run(self.config, self._stop)
