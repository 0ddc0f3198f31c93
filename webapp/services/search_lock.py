"""One lock per saved search, so that two refreshers never refresh it at once.

A refresher takes the lock before fetching a search and gives it back once
the search is stored and announced.  Locks expire on their own after
``ttl`` seconds, so a refresher that dies holding one blocks that search for
a while at most.

* Redis first: ``SET lock:search:<id> <token> NX PX <ttl>``, released by a
  Lua script that deletes the key only if it still holds our token (after an
  expiry the lock may belong to someone else).
* When Redis cannot be reached, a row of ``refresh_locks`` instead, taken
  with one atomic upsert that only overwrites an expired row.  It works the
  same on SQLite and PostgreSQL; PostgreSQL's advisory locks would free
  themselves when a process dies, but only while a connection stays open for
  the whole refresh, and SQLite has nothing like them.
* A refresher that finds a lock held by a process that no longer exists on
  its own host (SIGKILL, OOM killer) takes it over at once rather than
  waiting for the expiry.  Tokens are ``host:pid:random``; a holder on
  another host, or a pid that is alive, is always respected.

A Redis lock is also checked against live database locks, taken by a
refresher during a Redis outage that has just ended.  A search locked in
Redis right before an outage can still be locked again in the database; that
costs one duplicate refresh, never a broken one.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

import redis
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..models import RefreshLock
from .api_state import utcnow
from .storage import write_session

log = logging.getLogger(__name__)

KEY_PREFIX = "lock:search:"

# Delete the key only while it still holds the caller's token.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
# Replace a dead holder's token by ours, unless someone else got there first.
_TAKE_OVER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
    return 1
end
return 0
"""


@dataclass(frozen=True)
class Lock:
    """A lock held on one search: its token and where it is kept."""

    search_id: int
    token: str
    in_redis: bool


def new_token() -> str:
    """A token naming this process, unique to one lock."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def holder_is_gone(token: str) -> bool:
    """True when ``token`` names a process of this host that has ended."""
    host, _, rest = token.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        # Alive, under another user.
        return False
    return False


class SearchLocks:
    """Takes and gives back per-search locks, in Redis or in the database.

    Args:
        client: Redis, or None to use the database only.
        session_factory: sessions on the StackWatch database.
        ttl: seconds after which a lock lapses if it is not given back.
    """

    def __init__(
        self,
        client: redis.Redis | None,
        session_factory: sessionmaker[Session],
        ttl: float,
    ):
        self.client = client
        self.session_factory = session_factory
        self.ttl = ttl
        if client is not None:
            self._release_script = client.register_script(_RELEASE)
            self._take_over_script = client.register_script(_TAKE_OVER)

    def acquire_in_redis(self, search_id: int) -> Lock | None:
        """Lock a search in Redis; None when another refresher holds it.

        Raises:
            redis.RedisError: Redis could not be reached.
        """
        key, token = f"{KEY_PREFIX}{search_id}", new_token()
        milliseconds = max(1, int(self.ttl * 1000))
        if self.client.set(key, token, nx=True, px=milliseconds):
            return Lock(search_id, token, in_redis=True)

        holder = self.client.get(key)
        holder = holder.decode() if isinstance(holder, bytes) else holder
        if holder and holder_is_gone(holder):
            if self._take_over_script(keys=[key], args=[holder, token, milliseconds]):
                log.info(
                    "search %s: took over the lock of ended process %s",
                    search_id,
                    holder,
                )
                return Lock(search_id, token, in_redis=True)
        return None

    def acquire_in_database(self, search_id: int) -> Lock | None:
        """Lock a search with a ``refresh_locks`` row; None when it is held."""
        token, now = new_token(), utcnow()
        expires_at = now + timedelta(seconds=self.ttl)
        values = dict(search_id=search_id, owner=token, expires_at=expires_at)
        try:
            with write_session(self.session_factory) as session:
                session.execute(_insert_unless_held(session, values, now))
                holder = session.scalar(
                    select(RefreshLock.owner).where(RefreshLock.search_id == search_id)
                )
                if holder != token and not _take_over_row(session, values, holder):
                    return None
        except IntegrityError:
            # The search was deleted meanwhile.
            return None
        return Lock(search_id, token, in_redis=False)

    def held_elsewhere(self, session: Session, lock: Lock) -> bool:
        """Whether a Redis lock overlaps a live database lock on the search.

        A refresher that locked the search in the database during a Redis
        outage may still be working on it when Redis comes back.  (The other
        way round cannot be checked: Redis is down then.)
        """
        if not lock.in_redis:
            return False
        holder = session.scalar(
            select(RefreshLock.owner).where(
                RefreshLock.search_id == lock.search_id,
                RefreshLock.expires_at > utcnow(),
            )
        )
        return holder is not None and not holder_is_gone(holder)

    def release(self, lock: Lock) -> None:
        """Give a lock back, if it is still ours.

        Raises:
            redis.RedisError: for a Redis lock, when Redis is unreachable
                (the lock then lapses after its ttl).
        """
        if lock.in_redis:
            self._release_script(
                keys=[f"{KEY_PREFIX}{lock.search_id}"], args=[lock.token]
            )
            return
        with write_session(self.session_factory) as session:
            session.execute(
                delete(RefreshLock).where(
                    RefreshLock.search_id == lock.search_id,
                    RefreshLock.owner == lock.token,
                )
            )


def _take_over_row(session: Session, values: dict, holder: str | None) -> bool:
    """Give the lock row to ``values["owner"]`` if its holder has ended."""
    if not holder or not holder_is_gone(holder):
        return False
    taken = session.execute(
        update(RefreshLock)
        .where(
            RefreshLock.search_id == values["search_id"], RefreshLock.owner == holder
        )
        .values(owner=values["owner"], expires_at=values["expires_at"])
    )
    if taken.rowcount != 1:
        return False
    log.info(
        "search %s: took over the lock of ended process %s", values["search_id"], holder
    )
    return True


def _insert_unless_held(session: Session, values: dict, now):
    """INSERT the lock row, or overwrite the existing one if it has expired."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(RefreshLock.__table__).values(values)
    return statement.on_conflict_do_update(
        index_elements=["search_id"],
        set_=dict(
            owner=statement.excluded.owner, expires_at=statement.excluded.expires_at
        ),
        where=RefreshLock.__table__.c.expires_at < now,
    )
