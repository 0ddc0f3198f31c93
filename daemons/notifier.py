"""The notifier: tells open StackWatch pages that a search was refreshed.

Run it as ``stackwatch-notifier production.ini``.  It stays in the
foreground and logs to stderr; supervisord restarts it and keeps the logs.

Before it accepts any connection it subscribes to the refresher's Redis
channel (``refresher.channel``).  It then serves WebSockets on
``notifier.host`` and ``notifier.port`` (``STACKWATCH_WS_PORT`` wins), at
the path ``/ws`` only.  One coroutine reads Redis and hands each message,
unchanged except for an added ``page_url``, to websockets' ``broadcast``.
``page_url`` is the results page: absolute when ``notifier.public_url``
names the site, otherwise the path.

A browser says what it wants in the query string of the URL and sends
nothing afterwards (whatever it sends is read and ignored):

* ``/ws``: every search, from now on.
* ``/ws?searches=3,5``: searches 3 and 5 only (``searches=all`` is the
  default).
* ``/ws?last_event_id=42``: first the stored events after 42 that it asked
  for (the newest ``notifier.catchup_limit`` of them), then the live ones,
  none twice and none missed at the seam.

Only the app's own origins may connect: ``http://127.0.0.1:<http port>``,
``http://localhost:<http port>``, ``http://[::1]:<http port>`` (the port of
``[server:main]``, or ``STACKWATCH_HTTP_PORT``), the site that
``notifier.public_url`` belongs to, and the origins listed in
``notifier.allowed_origins``.  Any other ``Origin``, or none, gets HTTP 403
at the handshake.

Connections are pinged every ``notifier.ping_interval`` seconds and closed
when the pong is late.  A client whose unread messages pile up is dropped
without holding up the others.  When the Redis link is lost, the notifier
reconnects with backoff, subscribes again and relays, from the database, the
events stored while it was cut off; after ``notifier.redis_timeout`` seconds
without Redis it exits with status 1.  A sweep of the stored events every
15 s also relays those the refresher stored but could not publish.  Each
event goes out once, whichever way it came.  SIGTERM or SIGINT closes every
connection with code 1001 (going away) and exits with status 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import sys
import time
from collections import deque
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import plaster
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import Row, func, select
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from webapp import settings as stackwatch_settings
from webapp.models import Event, get_engine, get_session_factory
from webapp.services import page_cache
from webapp.services.api_state import utcnow

from . import argument_parser, load

log = logging.getLogger(__name__)

PATH = "/ws"
DEFAULT_HTTP_PORT = "6543"
# Bytes a client may leave unread in our write buffer, on top of what the
# kernel's socket buffers hold, before it is dropped: about a thousand
# messages.  broadcast() itself never skips a slow connection.
BACKLOG_LIMIT = 256 * 1024
# Browsers only ever send the subscription in the URL; anything larger than
# this in a frame is a misbehaving client.
MAX_CLIENT_MESSAGE = 4096
MAX_SEARCH_IDS = 1000
# Shutdown must fit in supervisord's 10 s stop wait.
CLOSE_TIMEOUT = 2.0
# Reconnecting to Redis: the first delay, doubled up to the cap, jittered.
RETRY_FIRST = 0.5
RETRY_CAP = 10.0
# A quiet Redis link is pinged, and counts as lost if the pong never comes.
REDIS_PING_AFTER = 5.0
REDIS_SILENCE_LIMIT = 15.0
# The database sweep: events stored but never published (the refresher
# skips Redis for a while after an error) go out within the interval; those
# younger than the grace may still come live.  The ids relayed lately are
# kept to send each event once, however it came.
SWEEP_GRACE = 10.0
SWEEP_BATCH = 1000
RECENT_IDS = 5000
REDIS_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)


class RedisUnavailableError(RuntimeError):
    """Redis could not be reached for longer than ``notifier.redis_timeout``."""


@dataclass(frozen=True)
class NotifierConfig:
    """The notifier's settings, converted once from the ini file."""

    host: str
    port: int
    redis_url: str
    channel: str
    database_url: str
    origins: tuple[str, ...]
    site_origin: str | None = None
    redis_timeout: float = 60.0
    catchup_limit: int = 100
    ping_interval: float = 20.0
    sqlite_busy_timeout: float = 30.0
    sweep_interval: float = 15.0


@dataclass(frozen=True)
class Subscription:
    """What one browser asked for in its URL; ``searches`` None means all."""

    searches: frozenset[int] | None = None
    last_event_id: int | None = None


def read_config(config_uri: str) -> NotifierConfig:
    """Configure logging from the ini and read the notifier's settings.

    Exits with status 2, naming the key, when a setting is bad.
    """
    settings = load(config_uri)
    raw = plaster.get_settings(config_uri, "app:main")
    server = plaster.get_settings(config_uri, "server:main")
    try:
        return config_from_settings(
            settings, raw, server.get("port", DEFAULT_HTTP_PORT)
        )
    except stackwatch_settings.SettingsError as exc:
        print(f"{sys.argv[0]}: bad setting in {config_uri}: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def config_from_settings(
    settings: stackwatch_settings.Settings, raw: dict, http_port: str | int
) -> NotifierConfig:
    """Build the config from the typed settings, the raw ``[app:main]`` values
    for the notifier-only keys, and the web server's configured port."""
    port = stackwatch_settings.http_port(http_port)
    site = site_origin(settings.notifier_public_url)
    return NotifierConfig(
        host=settings.notifier_host,
        port=settings.notifier_port,
        redis_url=settings.redis_url,
        channel=settings.channel,
        database_url=settings.database_url,
        origins=app_origins(port, site, settings.allowed_origins),
        site_origin=site,
        redis_timeout=_number(raw, "notifier.redis_timeout", "60"),
        catchup_limit=int(_number(raw, "notifier.catchup_limit", "100", whole=True)),
        ping_interval=_number(raw, "notifier.ping_interval", "20"),
        sqlite_busy_timeout=settings.sqlite_busy_timeout,
    )


def _number(raw: dict, key: str, default: str, whole: bool = False) -> float:
    text = str(raw.get(key) or default).strip()
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise stackwatch_settings.SettingsError(
            f"{key}: expected {kind}, got {text!r}"
        ) from None
    if value <= 0:
        raise stackwatch_settings.SettingsError(
            f"{key}: must be more than 0, got {text}"
        )
    return value


def site_origin(public_url: str) -> str | None:
    """The origin of the pages served next to ``public_url``, if it is set.

    The public notifier URL sits on the site's own host behind the proxy,
    so ``wss://example.org/ws`` belongs to pages of ``https://example.org``.
    """
    if not public_url:
        return None
    parts = urlsplit(public_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise stackwatch_settings.SettingsError(
            f"notifier.public_url: expected a ws:// or wss:// URL, got {public_url!r}"
        )

    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default_port = 443 if scheme == "https" else 80
    if parts.port is not None and parts.port != default_port:
        host = f"{host}:{parts.port}"
    return f"{scheme}://{host}"


def app_origins(
    http_port: int, site: str | None, extra: Iterable[str]
) -> tuple[str, ...]:
    """Origins allowed to connect: the app on loopback, its site, and ``extra``."""
    port = "" if http_port == 80 else f":{http_port}"
    origins = [f"http://{host}{port}" for host in ("127.0.0.1", "localhost", "[::1]")]
    if site:
        origins.append(site)
    origins += [origin.rstrip("/") for origin in extra]
    return tuple(dict.fromkeys(origins))


def parse_subscription(query: str) -> Subscription:
    """Read ``searches`` and ``last_event_id`` from a URL's query string.

    Raises:
        ValueError: naming the parameter that is malformed.
    """
    params = parse_qs(query, keep_blank_values=True)
    searches_text = _single(params, "searches") or "all"
    last_text = _single(params, "last_event_id")

    searches = None
    if searches_text != "all":
        words = searches_text.split(",")
        if len(words) > MAX_SEARCH_IDS or not all(_is_id(w) for w in words):
            raise ValueError(
                "searches: expected 'all' or search ids separated by commas"
            )
        searches = frozenset(int(word) for word in words)
    if last_text is not None and not (_is_id(last_text) or last_text == "0"):
        raise ValueError("last_event_id: expected an event id")
    last_event_id = None if last_text is None else int(last_text)
    return Subscription(searches, last_event_id)


def _single(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise ValueError(f"{name}: given more than once")
    return values[0]


def _is_id(word: str) -> bool:
    return word.isdigit() and word.isascii() and len(word) <= 18 and int(word) > 0


def parse_message(data: bytes | str) -> dict:
    """Decode one refresher message and check the fields routing needs.

    Raises:
        ValueError: saying what is wrong, without repeating the payload.
    """
    try:
        message = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    return check_message(message)


def check_message(message: dict) -> dict:
    """Return ``message`` if its ids are positive integers, else raise ValueError."""
    for name in ("event_id", "search_id"):
        value = message.get(name)
        if type(value) is not int or value < 1:
            raise ValueError(f"{name} is missing or not a positive integer")
    return message


class _Client:
    """One open connection, what it asked for, and how far it has caught up."""

    __slots__ = ("connection", "searches", "pending", "caught_up")

    def __init__(self, connection: ServerConnection, subscription: Subscription):
        self.connection = connection
        self.searches = subscription.searches
        # Live messages held back while its stored events are being read.
        catching_up = subscription.last_event_id is not None
        self.pending: list[tuple[int, str]] | None = [] if catching_up else None
        # Events it got from the database, whose live copy may come later.
        self.caught_up: frozenset[int] = frozenset()

    def wants(self, search_id: int) -> bool:
        return self.searches is None or search_id in self.searches


class Notifier:
    """The registry of open connections and the Redis link that feeds them."""

    def __init__(self, config: NotifierConfig):
        self.config = config
        self.clients: set[_Client] = set()
        self._engine = get_engine(config.database_url, config.sqlite_busy_timeout)
        self._sessions = get_session_factory(self._engine)
        self._redis: aioredis.Redis | None = None
        self._pubsub: aioredis.client.PubSub | None = None
        # Events relayed lately, whichever way they came, so that the live
        # copy and the stored copy of one event go out once.
        self._recent = _RecentIds(RECENT_IDS)
        # The newest stored event the sweep has looked at.
        self._swept_to: int | None = None

    async def prepare(self) -> None:
        """Subscribe, and note where the stored events end, before serving."""
        await self.subscribe()
        await self.sweep(grace=0.0)

    async def close(self) -> None:
        await self._close_link()
        self._engine.dispose()

    # -- connections -------------------------------------------------------

    def check_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Refuse other paths (404) and malformed subscriptions (400)."""
        url = urlsplit(request.path)
        if url.path != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        try:
            parse_subscription(url.query)
        except ValueError as exc:
            return connection.respond(HTTPStatus.BAD_REQUEST, f"{exc}\n")
        return None

    async def handle(self, connection: ServerConnection) -> None:
        """Register the connection, catch it up if asked, and wait for its end."""
        subscription = parse_subscription(urlsplit(connection.request.path).query)
        client = _Client(connection, subscription)
        self.clients.add(client)
        log.debug("client connected (%d open)", len(self.clients))
        try:
            if subscription.last_event_id is not None:
                await self._catch_up(client, subscription.last_event_id)
            # Reading keeps the keepalive pongs flowing; browsers send nothing.
            async for _ in connection:
                log.debug("ignored a message from a client")
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)
            log.debug("client disconnected (%d open)", len(self.clients))

    async def _catch_up(self, client: _Client, after: int) -> None:
        try:
            stored = await asyncio.to_thread(
                self._stored_events, after, client.searches
            )
        except Exception:
            log.exception("could not read the events after %d for a client", after)
            stored = []
        sent = frozenset(message["event_id"] for message in stored)
        texts = [self._outgoing(message) for message in stored]

        # Live messages that came during the read follow, unless the read
        # already had them.  All are written without yielding to the loop,
        # so no other live message can slip in between.
        texts += [
            text for event_id, text in client.pending or () if event_id not in sent
        ]
        client.pending = None
        client.caught_up = sent
        for text in texts:
            broadcast([client.connection], text)
        log.debug(
            "caught a client up after event %d with %d messages", after, len(texts)
        )

    def _stored_events(self, after: int, searches: frozenset[int] | None) -> list[dict]:
        """The newest ``catchup_limit`` events after ``after``, oldest first."""
        query = select(Event.id, Event.search_id, Event.payload).where(Event.id > after)
        if searches is not None:
            query = query.where(Event.search_id.in_(sorted(searches)))
        query = query.order_by(Event.id.desc()).limit(self.config.catchup_limit)
        with self._sessions() as session:
            rows = session.execute(query).all()

        messages = (_stored_message(row) for row in reversed(rows))
        return [message for message in messages if message is not None]

    # -- relaying ----------------------------------------------------------

    def relay(self, data: bytes | str) -> None:
        """Send one message from Redis to every client that wants its search."""
        try:
            message = parse_message(data)
        except ValueError as exc:
            log.warning("skipped a malformed message: %s", exc)
            return
        if message["event_id"] in self._recent:
            log.debug("event %d was already relayed", message["event_id"])
            return
        self._relay_message(message)

    def _relay_message(self, message: dict) -> None:
        started = time.perf_counter()
        event_id, search_id = message["event_id"], message["search_id"]
        self._recent.add(event_id)
        text = self._outgoing(message)

        receivers = []
        for client in self.clients:
            if not client.wants(search_id):
                continue
            if client.pending is not None:
                client.pending.append((event_id, text))
            elif event_id not in client.caught_up:
                receivers.append(client.connection)

        receivers = _without_stalled(receivers)
        broadcast(receivers, text)
        log.debug(
            "relayed event %d to %d clients in %.1f ms",
            event_id,
            len(receivers),
            (time.perf_counter() - started) * 1000,
        )

    def _outgoing(self, message: dict) -> str:
        """The message as browsers get it: as published, plus ``page_url``."""
        path = message.get("url")
        if not (
            isinstance(path, str) and path.startswith("/") and not path.startswith("//")
        ):
            path = f"/searches/{message['search_id']}"
        page_url = (self.config.site_origin or "") + path
        return json.dumps(dict(message, page_url=page_url), ensure_ascii=False)

    # -- the Redis link ----------------------------------------------------

    async def subscribe(self) -> float:
        """Open a Redis link and subscribe, retrying with backoff.

        Returns the seconds it took.

        Raises:
            RedisUnavailableError: after ``redis_timeout`` seconds of failures.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay = RETRY_FIRST
        while True:
            try:
                await self._open_link()
                return loop.time() - started
            except REDIS_ERRORS as exc:
                error = exc
            await self._close_link()
            remaining = started + self.config.redis_timeout - loop.time()
            if remaining <= 0:
                raise RedisUnavailableError(
                    f"no Redis for {self.config.redis_timeout:g} s: {error}"
                ) from error

            # Jitter spreads the reconnections of notifiers that lost the
            # same Redis; the last attempt is made at the deadline.
            pause = min(remaining, delay * random.uniform(0.5, 1.0))
            # One warning per outage; each retry is detail.
            level = logging.WARNING if delay == RETRY_FIRST else logging.DEBUG
            log.log(level, "redis unreachable (%s); retrying in %.1f s", error, pause)
            await asyncio.sleep(pause)
            delay = min(delay * 2, RETRY_CAP)

    async def _open_link(self) -> None:
        # redis-py's own retries would hide the outage from the backoff above.
        self._redis = aioredis.from_url(
            self.config.redis_url,
            socket_connect_timeout=2,
            socket_timeout=5,
            retry=Retry(NoBackoff(), 0),
        )
        self._pubsub = self._redis.pubsub()
        await self._pubsub.subscribe(self.config.channel)

        # Wait for the confirmation, so that "subscribed" is true when logged.
        async with asyncio.timeout(5):
            while True:
                message = await self._pubsub.get_message(timeout=1.0)
                if message is not None and message["type"] == "subscribe":
                    break
        log.info("subscribed to %s", self.config.channel)

    async def _close_link(self) -> None:
        pubsub, client = self._pubsub, self._redis
        self._pubsub = self._redis = None
        for closable in (pubsub, client):
            if closable is not None:
                try:
                    await closable.aclose()
                except REDIS_ERRORS:
                    pass

    async def relay_forever(self) -> None:
        """Relay messages from Redis until cancelled, reconnecting when needed.

        Raises:
            RedisUnavailableError: when Redis stays away too long.
        """
        while True:
            try:
                await self._read_link()
            except REDIS_ERRORS as exc:
                log.warning("redis link lost: %s", exc)
            await self._close_link()

            elapsed = await self.subscribe()
            log.info("reconnected to redis after %.1f s", elapsed)
            # Purges other processes tried during the outage may be lost:
            # a new cache epoch drops every cached page.
            try:
                await self._redis.incr(page_cache.EPOCH_KEY)
            except REDIS_ERRORS as exc:
                log.debug("could not start a new cache epoch: %s", exc)
            # Whatever was published while the link was down is in the
            # database; send it now rather than at the next sweep.
            swept = await self.sweep(grace=0.0)
            log.info("relayed %d events stored while redis was away", swept)

    async def _read_link(self) -> None:
        loop = asyncio.get_running_loop()
        heard = pinged = loop.time()
        while True:
            message = await self._pubsub.get_message(timeout=1.0)
            now = loop.time()
            if message is not None:
                heard = now
                # Subscription confirmations and pongs carry no news.
                if message["type"] == "message":
                    self.relay(message["data"])
                continue

            # A link can die silently (no FIN); only a ping can tell.
            if now - heard > REDIS_SILENCE_LIMIT:
                raise redis.exceptions.ConnectionError("no answer to ping")
            if now - heard > REDIS_PING_AFTER and now - pinged > REDIS_PING_AFTER:
                await self._pubsub.ping()
                pinged = now

    # -- the sweep -------------------------------------------------------

    async def sweep_forever(self) -> None:
        """Now and then, relay the stored events that nobody published."""
        while True:
            await asyncio.sleep(self.config.sweep_interval)
            swept = await self.sweep(grace=SWEEP_GRACE)
            if swept:
                log.warning("relayed %d stored events that were not published", swept)

    async def sweep(self, grace: float) -> int:
        """Relay the events stored since the last sweep that were not relayed.

        Events younger than ``grace`` seconds are left for the next sweep,
        since their live copy may still be on its way.  Returns how many
        events went out.
        """
        try:
            if self._swept_to is None:
                self._swept_to = await asyncio.to_thread(self._newest_event_id)
                return 0
            rows = await asyncio.to_thread(self._events_after, self._swept_to)
        except Exception:
            log.exception("could not read the stored events")
            return 0

        young = utcnow() - timedelta(seconds=grace)
        swept = 0
        for event_id, created_at, message in rows:
            if grace and created_at > young:
                break
            self._swept_to = max(self._swept_to, event_id)
            if message is not None and event_id not in self._recent:
                await self._purge_pages(message["search_id"])
                self._relay_message(message)
                swept += 1
        return swept

    async def _purge_pages(self, search_id: int) -> None:
        """Drop the cached pages of a search whose event nobody published.

        Such an event comes from a refresher that could not reach Redis, so
        its purge of the cached pages was lost too: browsers about to be
        told to reload must not get the old page back.
        """
        if self._redis is None:
            return
        generations = [page_cache.search_group(search_id), page_cache.LIST_GROUP]
        try:
            for group in generations:
                await self._redis.incr(page_cache.GENERATION_PREFIX + group)
        except REDIS_ERRORS as exc:
            log.debug("could not purge the pages of search %s: %s", search_id, exc)

    def _newest_event_id(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.max(Event.id))) or 0

    def _events_after(self, after: int) -> list[tuple[int, datetime, dict | None]]:
        """Every event after ``after``, oldest first; malformed ones as None."""
        query = (
            select(Event.id, Event.search_id, Event.payload, Event.created_at)
            .where(Event.id > after)
            .order_by(Event.id)
            .limit(SWEEP_BATCH)
        )
        with self._sessions() as session:
            rows = session.execute(query).all()
        return [(row.id, row.created_at, _stored_message(row)) for row in rows]


class _RecentIds:
    """The last ``size`` event ids added, for ``in`` tests."""

    def __init__(self, size: int):
        self._order: deque[int] = deque(maxlen=size)
        self._ids: set[int] = set()

    def add(self, event_id: int) -> None:
        if event_id in self._ids:
            return
        if len(self._order) == self._order.maxlen:
            self._ids.discard(self._order[0])
        self._order.append(event_id)
        self._ids.add(event_id)

    def __contains__(self, event_id: int) -> bool:
        return event_id in self._ids


def _stored_message(row: Row) -> dict | None:
    """The message stored in an ``Event`` row, or None if it is malformed."""
    # The row's own ids are the ones catch-up and routing trust.
    try:
        message = dict(
            json.loads(row.payload), event_id=row.id, search_id=row.search_id
        )
        return check_message(message)
    except (ValueError, TypeError) as exc:
        log.warning("skipped malformed stored event %d: %s", row.id, exc)
        return None


def _without_stalled(connections: list[ServerConnection]) -> list[ServerConnection]:
    """Drop the connections whose reader stopped; return the others."""
    ready = []
    for connection in connections:
        transport = connection.transport
        if transport.is_closing():
            continue
        queued = transport.get_write_buffer_size()
        if queued > BACKLOG_LIMIT:
            log.warning(
                "dropped a client that stopped reading (%d bytes queued)", queued
            )
            transport.abort()
            continue
        ready.append(connection)
    return ready


async def run(config: NotifierConfig, stop: asyncio.Event) -> None:
    """Subscribe, then serve until ``stop`` is set.

    Raises:
        RedisUnavailableError: when Redis stays away too long, after closing
            every connection.
    """
    notifier = Notifier(config)
    try:
        # SIGTERM while Redis is still being waited for must end that wait.
        if await _unless_stopped(notifier.prepare(), stop):
            async with serve(
                notifier.handle,
                config.host,
                config.port,
                process_request=notifier.check_request,
                origins=list(config.origins),
                # Messages are small; per-connection deflate state is not.
                compression=None,
                ping_interval=config.ping_interval,
                ping_timeout=config.ping_interval,
                close_timeout=CLOSE_TIMEOUT,
                max_size=MAX_CLIENT_MESSAGE,
                server_header=None,
            ):
                log.info("listening on ws://%s:%d%s", config.host, config.port, PATH)
                await _relay_until(notifier, stop)
                log.info("stopping: closing %d connections", len(notifier.clients))
    finally:
        await notifier.close()
    log.info("stopped")


async def _unless_stopped(
    coroutine: Coroutine[Any, Any, None], stop: asyncio.Event
) -> bool:
    """Run ``coroutine`` unless ``stop`` is set first; True if it finished."""
    work = asyncio.create_task(coroutine)
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for task in (work, stopping):
        task.cancel()
    await asyncio.gather(work, stopping, return_exceptions=True)
    if work not in done:
        return False
    work.result()
    return True


async def _relay_until(notifier: Notifier, stop: asyncio.Event) -> None:
    relaying = asyncio.create_task(notifier.relay_forever())
    sweeping = asyncio.create_task(notifier.sweep_forever())
    stopping = asyncio.create_task(stop.wait())
    tasks = {relaying, sweeping, stopping}
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    # The relay ends on its own when Redis stays away too long; anything
    # else that ended early is a bug, and must not pass silently.
    for task in done - {stopping}:
        task.result()


async def _run_until_signalled(config: NotifierConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum, stop)
    await run(config, stop)


def _on_signal(signum: int, stop: asyncio.Event) -> None:
    log.info("received %s", signal.Signals(signum).name)
    stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(
        "Relay refresh notices from Redis to browsers over WebSocket."
    )
    args = parser.parse_args(argv)
    config = read_config(args.config_uri)
    try:
        asyncio.run(_run_until_signalled(config))
    except RedisUnavailableError as exc:
        log.error("giving up: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
