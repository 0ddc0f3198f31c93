"""Backoff and quota records shared by every process, kept in the database.

The API's ``backoff`` applies to the caller, not to one process: when the web
app is told to back off a method, the refresher must hold off too.  This is
the database-backed :class:`~webapp.services.stackexchange.ClientState`;
each call runs in a short transaction of its own so that it never holds a
lock while the API is being called.  :class:`RedisState` keeps the backoffs
in Redis, with this database as its fallback.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

import redis
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..models import APIBackoff, APIQuota
from .redis_link import RedisLink
from .storage import upsert, write_session

log = logging.getLogger(__name__)

# What RedisState's Redis commands answer when Redis could not be asked.
_UNREACHABLE = object()


def utcnow() -> datetime:
    """Naive UTC now: every stored timestamp is naive UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class DatabaseState:
    """Shares backoffs and the quota through two tables of the database."""

    def __init__(self, session_factory: sessionmaker[Session]):
        self._session_factory = session_factory

    def not_before(self, method: str) -> float | None:
        with self._session_factory() as session:
            row = session.get(APIBackoff, method)
            return row.not_before if row else None

    def set_not_before(self, method: str, when: float) -> None:
        try:
            with write_session(self._session_factory) as session:
                row = session.get(APIBackoff, method)
                if row is None:
                    session.add(APIBackoff(method=method, not_before=when))
                else:
                    row.not_before = max(row.not_before, when)
        except SQLAlchemyError:
            log.exception("could not record the backoff of %s", method)

    def record_quota(self, caller: str, quota_max: int, remaining: int) -> None:
        values = dict(
            caller=caller,
            quota_max=quota_max,
            quota_remaining=remaining,
            reported_at=utcnow(),
        )
        try:
            with write_session(self._session_factory) as session:
                upsert(session, APIQuota, values, ["caller"])
        except SQLAlchemyError:
            log.exception("could not record the API quota")

    def quota(self, caller: str) -> tuple[int, int] | None:
        """The last (quota_max, quota_remaining) reported for ``caller``."""
        with self._session_factory() as session:
            row = session.get(APIQuota, caller)
            return (row.quota_max, row.quota_remaining) if row else None

    def backoffs_after(self, now: float) -> dict[str, float]:
        """Every backoff that still holds at ``now``, by method."""
        with self._session_factory() as session:
            rows = session.execute(
                select(APIBackoff.method, APIBackoff.not_before).where(
                    APIBackoff.not_before > now
                )
            )
            return dict(rows.all())


class RedisState:
    """Shares backoffs through Redis, with the database as the fallback.

    Reads ask Redis alone while it answers (one round trip, no database
    transaction per API call) and the database while it does not.  Writes
    go to both: backoffs are rare, and the database copy is what the
    processes read during an outage and what refills Redis after one: at its
    first read after an outage, and at start-up, each process copies the
    backoffs still holding into Redis.  A backoff recorded by any process
    during an outage is thus seen by all of them once Redis is back, even by
    a Redis restarted empty.  The quota stays in the database, as in
    :class:`DatabaseState`.
    """

    KEY = "stackwatch:api-backoff"

    def __init__(self, link: RedisLink, database: DatabaseState):
        self._link = link
        self._database = database
        # -1: refill once at start-up, in case Redis lost what the database has.
        self._synced_outages = -1

    def not_before(self, method: str) -> float | None:
        def read(client: redis.Redis) -> float | None:
            return client.zscore(self.KEY, method)

        score = self._link.run(read, _UNREACHABLE)
        if score is _UNREACHABLE:
            return self._database.not_before(method)
        if self._synced_outages != self._link.outages:
            # Redis answers again after an outage (or for the first time):
            # it may lack what was recorded meanwhile.
            self._refill()
            score = self._link.run(read, score)
        return score

    def set_not_before(self, method: str, when: float) -> None:
        self._link.run(lambda r: _raise_backoffs(r, self.KEY, {method: when}), None)
        self._database.set_not_before(method, when)

    def record_quota(self, caller: str, quota_max: int, remaining: int) -> None:
        self._database.record_quota(caller, quota_max, remaining)

    def quota(self, caller: str) -> tuple[int, int] | None:
        return self._database.quota(caller)

    def _refill(self) -> None:
        outages = self._link.outages
        backoffs = self._database.backoffs_after(time.time())
        done = self._link.run(
            lambda r: _raise_backoffs(r, self.KEY, backoffs), _UNREACHABLE
        )
        if done is not _UNREACHABLE:
            self._synced_outages = outages


def _raise_backoffs(client: redis.Redis, key: str, backoffs: dict[str, float]) -> bool:
    # A sorted set of method -> not_before; GT keeps the later of two
    # backoffs (Redis 6.2 and later), and past ones are dropped.
    pipe = client.pipeline(transaction=False)
    if backoffs:
        pipe.zadd(key, backoffs, gt=True)
    pipe.zremrangebyscore(key, "-inf", time.time())
    pipe.execute()
    return True
