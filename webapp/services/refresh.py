"""Refreshing saved searches: one cycle of the refresher daemon.

A cycle takes the saved searches in order of usefulness, those viewed in the
last interval first and then the longest unrefreshed, and for each one:

1. locks it (see :mod:`.search_lock`), so that no other refresher works on
   it at the same time;
2. re-fetches every stored API page of every stored ordering, 100 rows a
   call, through the one API client and outside any database transaction;
3. stores the pages in one short transaction with a ``Refresh`` record and,
   when questions are new or changed, an ``Event``;
4. after the commit, purges the search's cached pages and publishes the
   event's JSON on the Redis channel.

A killed refresher therefore leaves each search either refreshed or as it
was.  The API's limits are kept: backoffs are waited out (up to
``BACKOFF_WAIT``, longer ones end the cycle), a throttle or a quota below the
reserve ends the cycle, calls are paced and counted against a budget, and no
request is repeated within a minute (see :mod:`.request_log`): a search whose
pages were fetched less than a minute ago is left to the end of the cycle
and refreshed once that minute is over.

A search refreshed by another refresher recently is skipped: within the last
minute for a ``--once`` cycle, within half an interval for the daemon's
cycles.  Two refreshers started together thus share the searches instead of
each doing all of them, and ``--once`` still refreshes everything that was
not just refreshed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import case, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..models import (
    APIQuota,
    Event,
    Question,
    Refresh,
    ResultPage,
    SavedSearch,
    SearchResult,
)
from ..models.refresh import id_list
from . import request_log
from .api_state import DatabaseState, RedisState, utcnow
from .page_cache import PageCache
from .redis_link import RedisLink
from .results import store_page
from .search_lock import Lock, SearchLocks
from .searches import api_params, search_params
from .stackexchange import (
    MAX_PAGE_SIZE,
    BackoffError,
    StackExchangeClient,
    StackExchangeError,
    ThrottleError,
    UnavailableError,
    client_from_settings,
)
from .storage import write_session

log = logging.getLogger(__name__)

# The refresher sleeps through a backoff up to this long; longer ones end the
# cycle, since every call it makes is to the same method.
BACKOFF_WAIT = 30.0
SEARCH_METHOD = "search/advanced"
# Refreshers serialise the numbering of events on PostgreSQL with this
# advisory lock, so ids grow in commit order (SQLite writers queue anyway).
EVENTS_LOCK = 0x5717_0004
# What a Redis command run through the link answers when Redis is down.
_UNREACHABLE = object()
# API errors after which no other call this cycle would fare better.
CYCLE_ENDING_ERRORS = (ThrottleError, BackoffError, UnavailableError)


class StopRequested(Exception):
    """The refresher was asked to stop while it was waiting."""


def interruptible_sleep(stop: threading.Event) -> Callable[[float], None]:
    """A ``time.sleep`` that raises :class:`StopRequested` once ``stop`` is set."""

    def sleep(seconds: float) -> None:
        if stop.wait(max(0.0, seconds)):
            raise StopRequested()

    return sleep


class _CycleEnded(Exception):
    """The API's limits leave nothing more to do this cycle."""


@dataclass
class CycleReport:
    """What one cycle did."""

    refreshed: int = 0
    skipped: int = 0
    failed: int = 0
    calls: int = 0
    new: int = 0
    changed: int = 0
    seconds: float = 0.0
    ended_early: str | None = None
    stopped: bool = False
    #: Search id -> JSON message published for it.
    messages: dict[int, str] = field(default_factory=dict)


@dataclass
class _Planned:
    search_id: int
    pages: int
    ready_at: datetime | None


@dataclass
class _Stored:
    """What storing one refresh changed."""

    new: int
    changed: int
    rows_moved: bool
    message: str | None


@dataclass
class _Fetched:
    sort: str
    order: str
    api_page: int
    items: list[dict[str, Any]]
    has_more: bool
    fetched_at: datetime


class Refresher:
    """Runs refresh cycles over the saved searches.

    Args:
        session_factory: sessions on the StackWatch database.
        client: the API client; give it ``sleep=interruptible_sleep(stop)``
            so that waiting out a backoff ends when asked to stop.
        redis_link: Redis for locks, the request log, the page cache and
            the channel; None to run on the database alone.
        interval: seconds between the daemon's cycles.
        pace: calls per second at most (0: no pacing).
        budget: calls per cycle at most.
        quota_reserve: quota left to the web app; the cycle ends before
            spending it.
        lock_ttl: seconds after which a lock of a dead refresher lapses.
        channel: the Redis pub/sub channel of change messages.
        repeat_window: seconds within which a request is not sent again.
        stop: set to stop after the current search.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        client: StackExchangeClient,
        redis_link: RedisLink | None,
        interval: float,
        pace: float,
        budget: int,
        quota_reserve: int,
        lock_ttl: float,
        channel: str,
        repeat_window: float = request_log.WINDOW,
        stop: threading.Event | None = None,
    ):
        self.session_factory = session_factory
        self.client = client
        self.redis = redis_link
        # Page lifetimes do not matter here: the refresher only purges.
        self.page_cache = PageCache(redis_link, ttl=1) if redis_link else None
        self.interval = interval
        self.pace = pace
        self.budget = budget
        self.quota_reserve = quota_reserve
        self.channel = channel
        self.repeat_window = repeat_window
        self.stop = stop or threading.Event()
        self.wait = interruptible_sleep(self.stop)
        redis_client = redis_link.client if redis_link else None
        self.locks = SearchLocks(redis_client, session_factory, lock_ttl)
        self.request_log = request_log.RequestLog(redis_client, repeat_window)
        self._caller = "key" if client.key else "anonymous"
        self._last_call = 0.0

    @classmethod
    def from_settings(
        cls,
        settings,
        session_factory: sessionmaker[Session],
        redis_link: RedisLink | None,
        stop: threading.Event | None = None,
        **options: Any,
    ) -> "Refresher":
        """A refresher configured by the ini's typed settings; ``options`` win.

        Backoffs are shared with the web app the way it shares them: in
        Redis, with the database as the fallback.
        """
        stop = stop or threading.Event()
        state = DatabaseState(session_factory)
        client = client_from_settings(
            settings,
            RedisState(redis_link, state) if redis_link else state,
            max_wait=BACKOFF_WAIT,
            sleep=interruptible_sleep(stop),
        )
        values = dict(
            interval=settings.refresh_interval,
            pace=settings.refresh_pace,
            budget=settings.refresh_budget,
            quota_reserve=settings.quota_reserve,
            lock_ttl=settings.lock_ttl,
            channel=settings.channel,
        )
        return cls(
            session_factory, client, redis_link, stop=stop, **dict(values, **options)
        )

    # -- the cycle ---------------------------------------------------------

    def run_cycle(self, once: bool = False) -> CycleReport:
        """Refresh every due saved search once, within the limits.

        ``once`` is a cycle started by hand (``--once``): it refreshes every
        search not refreshed in the last minute, where the daemon's cycles
        skip those refreshed in the last half interval.

        Raises:
            SQLAlchemyError: the plan could not be read from the database.
        """
        began, start = time.monotonic(), utcnow()
        report = CycleReport()
        self._budget_left = self.budget
        self._quota_left = self._known_quota(start)
        fresh_for = self.repeat_window if once else self.interval / 2
        self._fresh_after = start - timedelta(seconds=fresh_for)

        plan, report.skipped = self._plan(start)
        try:
            self._follow(plan, start, report)
        except _CycleEnded as exc:
            report.ended_early = str(exc)
            log.warning("cycle ended early: %s", exc)
        except StopRequested:
            report.stopped = True

        report.seconds = time.monotonic() - began
        log.info(
            "cycle: %d refreshed, %d skipped, %d failed, %d calls, "
            "%d new, %d changed, %.1f s",
            report.refreshed,
            report.skipped,
            report.failed,
            report.calls,
            report.new,
            report.changed,
            report.seconds,
        )
        return report

    def _follow(
        self, plan: list[_Planned], start: datetime, report: CycleReport
    ) -> None:
        """Refresh the planned searches, leaving those fetched lately to the end."""
        ready = [p for p in plan if p.ready_at is None or p.ready_at <= start]
        later = [p for p in plan if p.ready_at is not None and p.ready_at > start]
        for planned in ready:
            self._refresh_planned(planned, report)

        if later:
            log.info(
                "waiting for %d searches fetched less than a minute ago", len(later)
            )
        for planned in sorted(later, key=lambda p: p.ready_at):
            if planned.pages <= self._budget_left:
                self.wait((planned.ready_at - utcnow()).total_seconds())
            self._refresh_planned(planned, report)

    def _plan(self, start: datetime) -> tuple[list[_Planned], int]:
        """The searches to refresh, in order, and how many are skipped as fresh."""
        viewed_since = start - timedelta(seconds=self.interval)
        viewed_first = case((SavedSearch.last_viewed_at >= viewed_since, 0), else_=1)
        query = select(SavedSearch.id, SavedSearch.refreshed_at).order_by(
            viewed_first, SavedSearch.refreshed_at.asc().nulls_first(), SavedSearch.id
        )
        with self.session_factory() as session:
            searches = session.execute(query).all()
            fetched = defaultdict(list)
            pages = select(
                ResultPage.search_id, ResultPage.api_page, ResultPage.fetched_at
            )
            for search_id, api_page, fetched_at in session.execute(pages):
                if self._may_fetch(api_page):
                    fetched[search_id].append(fetched_at)

        plan, skipped = [], 0
        for search_id, refreshed_at in searches:
            if self._is_fresh(refreshed_at) or not fetched[search_id]:
                skipped += 1
                continue
            ready_at = request_log.ready_at(fetched[search_id], self.repeat_window)
            plan.append(_Planned(search_id, len(fetched[search_id]), ready_at))
        return plan, skipped

    def _is_fresh(self, refreshed_at: datetime | None) -> bool:
        return refreshed_at is not None and refreshed_at > self._fresh_after

    def _may_fetch(self, api_page: int) -> bool:
        limit = self.client.page_limit
        return limit is None or api_page <= limit

    def _known_quota(self, now: datetime) -> int | None:
        """The quota left as last reported, if that was within an interval."""
        try:
            with self.session_factory() as session:
                row = session.get(APIQuota, self._caller)
        except SQLAlchemyError:
            return None
        recent = row is not None and row.reported_at > now - timedelta(
            seconds=self.interval
        )
        return row.quota_remaining if recent else None

    # -- one search --------------------------------------------------------

    def _refresh_planned(self, planned: _Planned, report: CycleReport) -> None:
        """Refresh one planned search, recording the outcome in ``report``."""
        if self.stop.is_set():
            raise StopRequested()
        if planned.pages > self.budget:
            log.warning(
                "search %s needs %d calls, more than refresher.budget: not refreshed",
                planned.search_id,
                planned.pages,
            )
        if planned.pages > self._budget_left:
            log.debug(
                "search %s: %d calls left in the budget, needs %d",
                planned.search_id,
                self._budget_left,
                planned.pages,
            )
            report.skipped += 1
            return
        if (
            self._quota_left is not None
            and self._quota_left - planned.pages < self.quota_reserve
        ):
            raise _CycleEnded(
                f"API quota down to {self._quota_left}, reserve {self.quota_reserve}"
            )

        lock = self._lock(planned.search_id)
        if lock is None:
            log.debug("search %s: locked by another refresher", planned.search_id)
            report.skipped += 1
            return
        try:
            self._refresh_locked(planned.search_id, lock, report)
        except (_CycleEnded, StopRequested):
            raise
        except Exception:
            # One broken search must not stop the others.
            log.exception("search %s: refresh failed", planned.search_id)
            report.failed += 1
        finally:
            self._unlock(lock)

    def _refresh_locked(self, search_id: int, lock: Lock, report: CycleReport) -> None:
        with self.session_factory() as session:
            search = session.get(SavedSearch, search_id)
            if search is None or self._is_fresh(search.refreshed_at):
                report.skipped += 1
                return
            if self.locks.held_elsewhere(session, lock):
                report.skipped += 1
                return
            site, params = search.site.api_name, api_params(search_params(search))
            pages = self._pages_to_fetch(session, search_id)
        if not pages:
            report.skipped += 1
            return

        started, calls_before = utcnow(), self.client.calls
        try:
            fetched = self._fetch(site, params, pages)
        except StackExchangeError as exc:
            calls = self.client.calls - calls_before
            self._count_calls(report, calls)
            report.failed += 1
            self._record_failure(search_id, started, calls, str(exc))
            if isinstance(exc, CYCLE_ENDING_ERRORS):
                raise _CycleEnded(str(exc)) from exc
            log.warning("search %s: refresh failed: %s", search_id, exc)
            return
        except StopRequested:
            self._count_calls(report, self.client.calls - calls_before)
            raise

        calls = self.client.calls - calls_before
        self._count_calls(report, calls)
        self._store_and_announce(search_id, started, fetched, calls, report)

    def _pages_to_fetch(
        self, session: Session, search_id: int
    ) -> list[tuple[str, str, int]]:
        """The stored pages of a search that may be requested again now.

        A page fetched (by the web app) less than a minute ago is left as it
        is: it cannot be fresher.
        """
        not_after = utcnow() - timedelta(seconds=self.repeat_window)
        query = (
            select(
                ResultPage.sort,
                ResultPage.order,
                ResultPage.api_page,
                ResultPage.fetched_at,
            )
            .where(ResultPage.search_id == search_id)
            .order_by(ResultPage.sort, ResultPage.order, ResultPage.api_page)
        )
        return [
            (sort, order, api_page)
            for sort, order, api_page, fetched_at in session.execute(query)
            if fetched_at <= not_after and self._may_fetch(api_page)
        ]

    def _fetch(
        self, site: str, params: dict[str, Any], pages: list[tuple[str, str, int]]
    ) -> list[_Fetched]:
        """Fetch the pages, stopping an ordering at its new end."""
        fetched: list[_Fetched] = []
        ended: set[tuple[str, str]] = set()
        seen: dict[tuple[str, str], set[int]] = defaultdict(set)
        for sort, order, api_page in pages:
            if (sort, order) in ended:
                continue
            self._claim(dict(params, site=site, sort=sort, order=order, page=api_page))
            self._pace()
            response = self.client.search_advanced(site, params, sort, order, api_page)
            self._note_quota(response.quota_remaining)

            # A question that moved down between two calls would be listed
            # twice in one ordering; it keeps its first place.
            items = [
                i for i in response.items if i["question_id"] not in seen[sort, order]
            ]
            seen[sort, order].update(i["question_id"] for i in items)
            fetched.append(
                _Fetched(sort, order, api_page, items, response.has_more, utcnow())
            )
            if not response.has_more:
                ended.add((sort, order))
        return fetched

    def _claim(self, query: dict[str, Any]) -> None:
        """Claim a request in the request log, waiting out an earlier one."""
        if self.redis is None:
            return
        query = dict(query, pagesize=MAX_PAGE_SIZE)

        def claim(_client) -> float:
            return self.request_log.claim(SEARCH_METHOD, query)

        while (left := self.redis.run(claim, 0.0)) > 0:
            log.info(
                "waiting %.0f s: the same request was sent less than a minute ago", left
            )
            self.wait(left)

    def _pace(self) -> None:
        if self.pace > 0:
            self.wait(self._last_call + 1.0 / self.pace - time.monotonic())
        self._last_call = time.monotonic()

    def _note_quota(self, remaining: int | None) -> None:
        if remaining is not None:
            self._quota_left = remaining

    def _count_calls(self, report: CycleReport, calls: int) -> None:
        report.calls += calls
        self._budget_left -= calls

    # -- storing and announcing -------------------------------------------

    def _store_and_announce(
        self,
        search_id: int,
        started: datetime,
        fetched: list[_Fetched],
        calls: int,
        report: CycleReport,
    ) -> None:
        try:
            stored = self._store(search_id, started, fetched, calls)
        except SQLAlchemyError:
            log.exception("search %s: could not store the refresh", search_id)
            report.failed += 1
            return
        if stored is None:
            report.skipped += 1
            return

        report.refreshed += 1
        report.new += stored.new
        report.changed += stored.changed
        if stored.rows_moved or stored.message:
            self._purge(search_id)
        if stored.message is None:
            log.debug("search %s: no change, %d calls", search_id, calls)
            return
        log.info(
            "search %s: %d new, %d changed, %d calls",
            search_id,
            stored.new,
            stored.changed,
            calls,
        )
        self._publish(stored.message)
        report.messages[search_id] = stored.message

    def _store(
        self, search_id: int, started: datetime, fetched: list[_Fetched], calls: int
    ) -> _Stored | None:
        """Store a refresh in one transaction; None if the search was deleted."""
        with write_session(self.session_factory) as session:
            search = session.get(SavedSearch, search_id)
            if search is None:
                return None
            before = _result_rows(session, search_id)
            baseline = _baselines(session, search)
            for page in fetched:
                store_page(
                    session,
                    search_id,
                    page.sort,
                    page.order,
                    page.api_page,
                    page.items,
                    page.has_more,
                    now=started,
                )
                _set_fetched_at(session, search_id, page)

            after = _result_rows(session, search_id)
            new = {row[-1] for row in after} - {row[-1] for row in before}
            changed = {
                question_id
                for question_id, changed_at in _changed_at(session, search_id)
                if question_id not in new and changed_at > baseline(question_id)
            }
            finished = utcnow()
            session.add(
                Refresh(
                    search_id=search_id,
                    started_at=started,
                    finished_at=finished,
                    new_count=len(new),
                    changed_count=len(changed),
                    api_calls=calls,
                    new_ids=id_list(new),
                    changed_ids=id_list(changed),
                )
            )
            search.refreshed_at = started
            message = None
            if new or changed:
                message = _record_event(
                    session, search, len(new), len(changed), finished
                )
        return _Stored(len(new), len(changed), before != after, message)

    def _record_failure(
        self, search_id: int, started: datetime, calls: int, error: str
    ) -> None:
        try:
            with write_session(self.session_factory) as session:
                if session.get(SavedSearch, search_id) is None:
                    return
                session.add(
                    Refresh(
                        search_id=search_id,
                        started_at=started,
                        finished_at=utcnow(),
                        new_count=0,
                        changed_count=0,
                        api_calls=calls,
                        error=error[:2000],
                    )
                )
        except SQLAlchemyError:
            log.exception("search %s: could not record the failed refresh", search_id)

    def _purge(self, search_id: int) -> None:
        """Drop the cached pages that show the search: its results and the list."""
        if self.page_cache is not None:
            self.page_cache.purge_search(search_id)

    def _publish(self, message: str) -> None:
        # Without Redis the event is still stored, and the notifier's
        # catch-up delivers it.
        if self.redis is not None:
            self.redis.run(lambda r: r.publish(self.channel, message), None)

    # -- locks -------------------------------------------------------------

    def _lock(self, search_id: int) -> Lock | None:
        if self.redis is not None:
            lock = self.redis.run(
                lambda r: self.locks.acquire_in_redis(search_id), _UNREACHABLE
            )
            if lock is not _UNREACHABLE:
                return lock
        return self.locks.acquire_in_database(search_id)

    def _unlock(self, lock: Lock) -> None:
        if lock.in_redis:
            # Unreachable, the lock lapses after its ttl.
            self.redis.run(lambda r: self.locks.release(lock), None)
            return
        try:
            self.locks.release(lock)
        except SQLAlchemyError:
            log.exception("search %s: could not release its lock", lock.search_id)


def _result_rows(session: Session, search_id: int) -> set[tuple[str, str, int, int]]:
    """(sort, order, position, question id) of every stored row of a search."""
    query = select(
        SearchResult.sort,
        SearchResult.order,
        SearchResult.position,
        SearchResult.question_id,
    ).where(SearchResult.search_id == search_id)
    return {tuple(row) for row in session.execute(query)}


def _baselines(session: Session, search: SavedSearch) -> Callable[[int], datetime]:
    """For each question of a search, the time after which a change is news.

    That is the start of the search's last refresh (whose own changes are
    stamped with exactly that time), or for a search never refreshed the
    time the question's row was stored.  Comparing with the question's
    ``changed_at`` also catches changes that another search's refresh, or the
    web app, stored first, and that ``store_page`` alone would not report.
    """
    if search.refreshed_at is not None:
        last = search.refreshed_at
        return lambda question_id: last
    query = (
        select(SearchResult.question_id, func.min(SearchResult.added_at))
        .where(SearchResult.search_id == search.id)
        .group_by(SearchResult.question_id)
    )
    added = dict(session.execute(query).all())
    return lambda question_id: added[question_id]


def _changed_at(session: Session, search_id: int) -> list[tuple[int, datetime]]:
    """(id, changed_at) of the search's stored questions that ever changed."""
    query = (
        select(Question.question_id, Question.changed_at)
        .join(
            SearchResult,
            (SearchResult.site_id == Question.site_id)
            & (SearchResult.question_id == Question.question_id),
        )
        .where(SearchResult.search_id == search_id, Question.changed_at.is_not(None))
        .distinct()
    )
    return list(session.execute(query).all())


def _set_fetched_at(session: Session, search_id: int, page: _Fetched) -> None:
    # store_page stamps the refresh's start; the request log wants the time
    # this page was really requested.
    session.execute(
        update(ResultPage)
        .where(
            ResultPage.search_id == search_id,
            ResultPage.sort == page.sort,
            ResultPage.order == page.order,
            ResultPage.api_page == page.api_page,
        )
        .values(fetched_at=page.fetched_at)
    )


def _record_event(
    session: Session, search: SavedSearch, new: int, changed: int, when: datetime
) -> str:
    """Store the event of a changed search and return its JSON message."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENTS_LOCK}
        )
    event = Event(search_id=search.id, created_at=when, payload="")
    session.add(event)
    session.flush()
    event.payload = json.dumps(
        {
            "event_id": event.id,
            "search_id": search.id,
            "site": search.site.api_name,
            "query": search.query,
            "new": new,
            "changed": changed,
            "time": _iso_utc(when),
            "url": f"/searches/{search.id}",
        },
        ensure_ascii=False,
    )
    return event.payload


def _iso_utc(when: datetime) -> str:
    return (
        when.replace(tzinfo=timezone.utc)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def latest_refreshes(session: Session, search_ids: list[int]) -> dict[int, Refresh]:
    """The last successful refresh of each of ``search_ids`` that has one."""
    if not search_ids:
        return {}
    last = (
        select(func.max(Refresh.id))
        .where(Refresh.search_id.in_(search_ids), Refresh.error.is_(None))
        .group_by(Refresh.search_id)
    )
    rows = session.scalars(select(Refresh).where(Refresh.id.in_(last)))
    return {row.search_id: row for row in rows}


def describe_age(when: datetime | None, now: datetime | None = None) -> str:
    """``when`` as "N minutes ago" (naive UTC), or "never"."""
    if when is None:
        return "never"
    seconds = max(0, int(((now or utcnow()) - when).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"
