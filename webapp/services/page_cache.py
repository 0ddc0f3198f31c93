"""Whole rendered pages kept in Redis, and purged by group.

The web app's tween (``webapp.cache``) decides which pages may be kept and
under which URL; this module stores them.  Pages belong to a *group*: the
saved-search list, or one search's results.  Each group has a generation
counter, and a page is stored together with the generation of its group
read *before* it was rendered.  Purging a group increments its counter, so
every page of the group stops matching at once, in one Redis command, and a
page that was being rendered while the purge happened is stale on arrival.
Stale pages are never read again and expire with their TTL.

A purge that fails because Redis is down is not retried as such: the
process that lost it bumps the *epoch*, shared by every group, as soon as
Redis answers again, which drops every cached page at once.  So does any
process that saw an outage, since purges it never attempted may have been
lost elsewhere.

Keys::

    stackwatch:page:<canonical URL>         "<epoch>.<generation>\\n<meta>\\n<body>"
    stackwatch:page-generation:all          the epoch
    stackwatch:page-generation:list         generation of the list pages
    stackwatch:page-generation:search:<id>  generation of one search's pages

The refresher, which has no request, calls :func:`purge_search` with a
plain ``redis.Redis`` client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import redis

from .redis_link import RedisLink

PAGE_PREFIX = "stackwatch:page:"
GENERATION_PREFIX = "stackwatch:page-generation:"
LIST_GROUP = "list"
EPOCH_KEY = GENERATION_PREFIX + "all"


def search_group(search_id: int) -> str:
    """The group of the result pages of one saved search."""
    return f"search:{search_id}"


def search_of(group: str) -> int | None:
    """The search id of a search's group, None for the list."""
    prefix, _, number = group.partition(":")
    return int(number) if prefix == "search" else None


def purge_search(client: redis.Redis, search_id: int) -> None:
    """Forget the cached pages of one search, and the list pages.

    The list shows each search's row count and refresh time, so it changes
    whenever a search does.

    Raises:
        redis.RedisError: Redis could not be reached.
    """
    pipe = client.pipeline(transaction=False)
    pipe.incr(GENERATION_PREFIX + search_group(search_id))
    pipe.incr(GENERATION_PREFIX + LIST_GROUP)
    pipe.execute()


def purge_list(client: redis.Redis) -> None:
    """Forget the cached pages of the saved-search list (a search was added).

    Raises:
        redis.RedisError: Redis could not be reached.
    """
    client.incr(GENERATION_PREFIX + LIST_GROUP)


@dataclass(frozen=True)
class CachedPage:
    """A response as stored: status line, headers and body."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Lookup:
    """The outcome of one lookup, kept to store the page rendered after a miss."""

    key: str
    generation: bytes
    page: CachedPage | None


class PageCache:
    """Reads and writes pages through a :class:`RedisLink`.

    Every method gives up quietly while Redis is down: a lookup answers
    None and a store does nothing.
    """

    def __init__(self, link: RedisLink, ttl: int):
        self.link = link
        self.ttl = ttl
        # Outages of the link already answered by a new epoch.
        self._outages_seen = link.outages
        self._purge_lost = False

    def lookup(self, group: str, url: str) -> Lookup | None:
        """The page cached for ``url`` if any, or None when Redis is down."""
        self._resync()
        key = PAGE_PREFIX + url
        command = ("MGET", EPOCH_KEY, GENERATION_PREFIX + group, key)
        values = self.link.execute(*command, default=None)
        if values is not None and self._resync():
            # This very lookup ended an outage: read under the new epoch.
            values = self.link.execute(*command, default=None)
        if values is None:
            return None
        generation = (values[0] or b"0") + b"." + (values[1] or b"0")
        return Lookup(key, generation, _decode(values[2], generation))

    def store(self, lookup: Lookup, page: CachedPage) -> None:
        """Keep ``page`` for the TTL, under the generation its lookup saw."""
        data = _encode(lookup.generation, page)
        self.link.run(lambda r: r.set(lookup.key, data, ex=self.ttl), None)

    def purge_list(self) -> None:
        self._purge(purge_list)

    def purge_search(self, search_id: int) -> None:
        self._purge(lambda client: purge_search(client, search_id))

    def _purge(self, command) -> None:
        self._resync()
        if not self.link.run(lambda client: command(client) or True, False):
            self._purge_lost = True

    def _resync(self) -> bool:
        """Start a new epoch if a purge was lost or an outage ended since;
        say whether one was started."""
        if not self._purge_lost and self.link.outages == self._outages_seen:
            return False
        outages = self.link.outages
        if self.link.run(lambda client: client.incr(EPOCH_KEY), None) is None:
            return False
        self._purge_lost = False
        self._outages_seen = outages
        return True


def _encode(generation: bytes, page: CachedPage) -> bytes:
    meta = json.dumps({"status": page.status, "headers": page.headers}).encode()
    return b"\n".join((generation, meta, page.body))


def _decode(data: bytes | None, generation: bytes) -> CachedPage | None:
    if data is None:
        return None
    try:
        stored_generation, meta, body = data.split(b"\n", 2)
        if stored_generation != generation:
            return None
        fields = json.loads(meta)
        headers = [(str(name), str(value)) for name, value in fields["headers"]]
        return CachedPage(str(fields["status"]), headers, body)
    except (ValueError, KeyError, TypeError):
        # Not a page this version wrote (say, one stored before an upgrade
        # changed the format): a miss, which overwrites it.
        return None
