"""Backoff and quota records shared by every process, kept in the database.

The API's ``backoff`` applies to the caller, not to one process: when the web
app is told to back off a method, the refresher must hold off too.  This is
the database-backed :class:`~webapp.services.stackexchange.ClientState`;
each call runs in a short transaction of its own so that it never holds a
lock while the API is being called.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..models import APIBackoff, APIQuota
from .storage import upsert, write_session

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """Naive UTC now: every stored timestamp is naive UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class DatabaseState:
    """Shares backoffs and the quota through the ``api_backoff``/``api_quota`` tables."""

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
            caller=caller, quota_max=quota_max, quota_remaining=remaining, reported_at=utcnow()
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
