"""Fetching, storing and reading the results of saved searches.

The results of one search in one sort and order (an *ordering*) are stored
by absolute position.  They are fetched from the API 100 at a time (the
API's largest page), lazily: a page of results that the user asks for is
read from the database when every API page under it is stored, and only the
missing API pages are fetched.  Paging through four pages of 25 rows thus
costs one API call, and a sort that was seen before is read back from the
database.

The web app and the refresher both store through :func:`store_page`.
"""

from __future__ import annotations

import html
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ..models import (
    Owner,
    Question,
    QuestionTag,
    ResultPage,
    SavedSearch,
    SearchOrdering,
    SearchResult,
    Tag,
)
from .api_state import utcnow
from .fetch_claims import FetchClaims
from .searches import api_params, search_params
from .stackexchange import MAX_PAGE_SIZE, StackExchangeClient, StackExchangeError
from .storage import upsert, write_session

log = logging.getLogger(__name__)

API_PAGE = MAX_PAGE_SIZE
# Fields whose change marks a stored question as changed.  View counts move
# all the time and would mark everything, so they are updated silently.
WATCHED_FIELDS = (
    "title",
    "score",
    "answer_count",
    "accepted_answer_id",
    "closed_date",
    "last_activity_date",
)


# How fresh a search's last_viewed_at is kept.
VIEW_RESOLUTION = timedelta(seconds=60)


# Seconds between looks at the database while another request fetches.
CLAIM_POLL = 0.2


class FetchInProgressError(StackExchangeError):
    """Another request fetches the same rows and has not finished in time."""

    retry_after = 5.0


class SearchNotFoundError(LookupError):
    """No saved search has that id."""


@dataclass
class FetchOutcome:
    """What :func:`ensure_rows` did: API calls made and the error that stopped it."""

    calls: int = 0
    error: StackExchangeError | None = None


@dataclass
class StoreReport:
    """Questions a stored page added to the database or changed in it."""

    inserted: set[int] = field(default_factory=set)
    changed: set[int] = field(default_factory=set)


def api_pages_for(page: int, pagesize: int) -> range:
    """The API pages (of 100) that hold rows ``page`` of size ``pagesize``."""
    first_row = (page - 1) * pagesize
    last_row = page * pagesize - 1
    return range(first_row // API_PAGE + 1, last_row // API_PAGE + 2)


def ensure_rows(
    session_factory: sessionmaker[Session],
    client: StackExchangeClient,
    search_id: int,
    sort: str,
    order: str,
    page: int,
    pagesize: int,
    claims: FetchClaims | None = None,
) -> FetchOutcome:
    """Make sure the rows of one page of results are stored, fetching what is missing.

    Raises:
        SearchNotFoundError: no search has ``search_id``.
    """
    with session_factory() as session:
        search = session.get(SavedSearch, search_id)
        if search is None:
            raise SearchNotFoundError(search_id)
        site, params = search.site.api_name, api_params(search_params(search))
        viewed = search.last_viewed_at
        missing = _missing_pages(
            session, search_id, sort, order, api_pages_for(page, pagesize)
        )

    outcome = FetchOutcome()
    for api_page in missing:
        key = (search_id, sort, order, api_page)
        try:
            token = _claim(session_factory, claims, key, client.total_timeout)
            if isinstance(token, StoredMeanwhile):
                if not token.has_more:
                    break
                continue
            try:
                has_more = _fetch_and_store(session_factory, client, site, params, key)
            finally:
                if token is not None:
                    claims.release(_claim_name(key), token)
        except StackExchangeError as exc:
            outcome.error = exc
            break
        outcome.calls += 1
        if not has_more:
            break
    # The refresher only needs to know a search was viewed lately; writing
    # on every view would queue every page behind the database's one writer.
    if viewed is None or utcnow() - viewed > VIEW_RESOLUTION:
        _mark_viewed(session_factory, search_id)
    return outcome


def _fetch_and_store(session_factory, client, site, params, key: tuple) -> bool:
    """Fetch one API page and store it; return its ``has_more``."""
    search_id, sort, order, api_page = key
    response = client.search_advanced(site, params, sort, order, api_page)
    with write_session(session_factory) as session:
        store_page(
            session, search_id, sort, order, api_page, response.items, response.has_more
        )
    return response.has_more


@dataclass(frozen=True)
class StoredMeanwhile:
    """Another request stored the page while this one waited."""

    has_more: bool


def _claim_name(key: tuple) -> str:
    return ":".join(str(part) for part in key)


def _claim(session_factory, claims, key: tuple, wait: float):
    """Claim the fetch of one API page, or wait while another request fetches it.

    Returns the claim's token (None without claims), or StoredMeanwhile.

    Raises:
        FetchInProgressError: the other request is still at it after ``wait``.
    """
    if claims is None:
        return None
    deadline = time.monotonic() + wait
    while True:
        with session_factory() as session:
            stored = session.get(ResultPage, key)
            if stored is not None:
                return StoredMeanwhile(stored.has_more)
        token = claims.claim(_claim_name(key))
        if token is not None:
            return token
        if time.monotonic() > deadline:
            raise FetchInProgressError("another request is still fetching these rows")
        time.sleep(CLAIM_POLL)


def _missing_pages(
    session: Session, search_id: int, sort: str, order: str, wanted: range
) -> list[int]:
    stored = dict(
        session.execute(
            select(ResultPage.api_page, ResultPage.has_more).where(
                ResultPage.search_id == search_id,
                ResultPage.sort == sort,
                ResultPage.order == order,
            )
        ).all()
    )
    # Nothing exists past a stored page that said has_more false.
    ends = [p for p, more in stored.items() if not more]
    last = min(ends) if ends else None
    return [p for p in wanted if p not in stored and (last is None or p <= last)]


def _mark_viewed(session_factory: sessionmaker[Session], search_id: int) -> None:
    with write_session(session_factory) as session:
        search = session.get(SavedSearch, search_id)
        if search is not None:
            search.last_viewed_at = utcnow()


def store_page(
    session: Session,
    search_id: int,
    sort: str,
    order: str,
    api_page: int,
    items: list[dict[str, Any]],
    has_more: bool,
    now: datetime | None = None,
) -> StoreReport:
    """Store one API page of an ordering, replacing what was at its positions.

    ``now`` stamps what is written; the refresher gives every page of one
    refresh the time the refresh started, which it keeps as the search's
    ``refreshed_at``, so that later changes are those stamped after it.
    """
    search = session.get(SavedSearch, search_id)
    now = now or utcnow()
    if has_more and not items:
        # The API has been seen to promise more and send nothing; paging on
        # would loop, so this page is taken as the end.
        log.warning(
            "search %s: empty page %s with has_more, taken as the end",
            search_id,
            api_page,
        )
        has_more = False

    report = store_questions(session, search.site_id, items, now)
    key = dict(search_id=search_id, sort=sort, sort_order=order)
    upsert(
        session,
        SearchOrdering,
        dict(key, total=None, created_at=now),
        list(key),
        update=[],
    )
    first = (api_page - 1) * API_PAGE
    session.execute(
        delete(SearchResult).where(
            SearchResult.search_id == search_id,
            SearchResult.sort == sort,
            SearchResult.order == order,
            SearchResult.position >= first,
            SearchResult.position < first + API_PAGE,
        )
    )
    rows = [
        dict(
            key,
            position=first + i,
            site_id=search.site_id,
            question_id=item["question_id"],
            added_at=now,
        )
        for i, item in enumerate(items)
    ]
    if rows:
        session.execute(SearchResult.__table__.insert(), rows)

    page_values = dict(
        key, api_page=api_page, item_count=len(items), has_more=has_more, fetched_at=now
    )
    upsert(session, ResultPage, page_values, [*key, "api_page"])
    _update_totals(session, search, sort, order, api_page, len(items), has_more)
    return report


def _update_totals(session, search, sort, order, api_page, count, has_more) -> None:
    ordering = session.get(SearchOrdering, (search.id, sort, order))
    if not has_more:
        end = (api_page - 1) * API_PAGE + count
        # A page with rows proves the pages before it full, so the total is
        # known; an empty last page only says the results end before it.
        ordering.total = end if count or api_page == 1 else None
        # Pages beyond a new end are stale leftovers of a longer result.
        session.execute(
            delete(ResultPage).where(
                ResultPage.search_id == search.id,
                ResultPage.sort == sort,
                ResultPage.order == order,
                ResultPage.api_page > api_page,
            )
        )
        session.execute(
            delete(SearchResult).where(
                SearchResult.search_id == search.id,
                SearchResult.sort == sort,
                SearchResult.order == order,
                SearchResult.position >= end,
            )
        )
    elif ordering.total is not None and ordering.total <= api_page * API_PAGE:
        ordering.total = None
    session.flush()
    search.row_count = session.scalar(
        select(func.count(func.distinct(SearchResult.question_id))).where(
            SearchResult.search_id == search.id
        )
    )


def store_questions(
    session: Session, site_id: int, items: list[dict[str, Any]], now: datetime
) -> StoreReport:
    """Insert or update questions, their owners and tags; report what changed."""
    report = StoreReport()
    if not items:
        return report
    ids = [item["question_id"] for item in items]
    before = {
        q.question_id: q
        for q in session.scalars(
            select(Question).where(
                Question.site_id == site_id, Question.question_id.in_(ids)
            )
        )
    }
    _store_owners(session, site_id, items)

    rows = []
    for item in {item["question_id"]: item for item in items}.values():
        row = _question_row(site_id, item, now)
        old = before.get(row["question_id"])
        if old is None:
            report.inserted.add(row["question_id"])
            row.update(
                first_seen_at=now,
                changed_at=None,
                previous_score=None,
                previous_answer_count=None,
            )
        elif any(getattr(old, name) != row[name] for name in WATCHED_FIELDS):
            report.changed.add(row["question_id"])
            row.update(
                first_seen_at=old.first_seen_at,
                changed_at=now,
                previous_score=old.score,
                previous_answer_count=old.answer_count,
            )
        else:
            row.update(
                first_seen_at=old.first_seen_at,
                changed_at=old.changed_at,
                previous_score=old.previous_score,
                previous_answer_count=old.previous_answer_count,
            )
        rows.append(row)
    upsert(session, Question, rows, ["site_id", "question_id"])
    _store_tags(session, site_id, items)
    # Objects loaded above hold the old values; reload them on next access.
    for question in before.values():
        session.expire(question)
    return report


def _question_row(site_id: int, item: dict[str, Any], now: datetime) -> dict[str, Any]:
    owner = item.get("owner") or {}
    name = owner.get("display_name")
    return dict(
        site_id=site_id,
        question_id=item["question_id"],
        title=html.unescape(item.get("title", "")),
        link=item.get("link", ""),
        score=item.get("score", 0),
        answer_count=item.get("answer_count", 0),
        view_count=item.get("view_count", 0),
        is_answered=bool(item.get("is_answered", False)),
        accepted_answer_id=item.get("accepted_answer_id"),
        closed_date=item.get("closed_date"),
        closed_reason=html.unescape(item["closed_reason"])
        if item.get("closed_reason")
        else None,
        creation_date=item.get("creation_date", 0),
        last_activity_date=item.get("last_activity_date", item.get("creation_date", 0)),
        last_edit_date=item.get("last_edit_date"),
        owner_user_id=owner.get("user_id"),
        owner_name=html.unescape(name) if name else None,
        updated_at=now,
    )


def _store_owners(session: Session, site_id: int, items: list[dict[str, Any]]) -> None:
    owners = {}
    for item in items:
        owner = item.get("owner") or {}
        if owner.get("user_id") is None:
            continue
        owners[owner["user_id"]] = dict(
            site_id=site_id,
            user_id=owner["user_id"],
            display_name=html.unescape(
                owner.get("display_name") or f"user{owner['user_id']}"
            ),
            user_type=owner.get("user_type", "registered"),
            reputation=owner.get("reputation"),
            link=owner.get("link"),
        )
    upsert(session, Owner, list(owners.values()), ["site_id", "user_id"])


def _store_tags(session: Session, site_id: int, items: list[dict[str, Any]]) -> None:
    names = {tag for item in items for tag in item.get("tags", [])}
    upsert(
        session,
        Tag,
        [dict(site_id=site_id, name=n) for n in sorted(names)],
        ["site_id", "name"],
        update=[],
    )
    tag_ids = (
        dict(
            session.execute(
                select(Tag.name, Tag.id).where(
                    Tag.site_id == site_id, Tag.name.in_(names)
                )
            ).all()
        )
        if names
        else {}
    )

    ids = [item["question_id"] for item in items]
    session.execute(
        delete(QuestionTag).where(
            QuestionTag.site_id == site_id, QuestionTag.question_id.in_(ids)
        )
    )
    links = {
        (item["question_id"], tag_ids[tag]): dict(
            site_id=site_id,
            question_id=item["question_id"],
            tag_id=tag_ids[tag],
            position=i,
        )
        for item in items
        for i, tag in enumerate(item.get("tags", []))
    }
    if links:
        session.execute(QuestionTag.__table__.insert(), list(links.values()))


def read_rows(
    session: Session, search_id: int, sort: str, order: str, page: int, pagesize: int
) -> list[SearchResult]:
    """The stored rows of one page of results, in the API's order.

    Each row's question comes with its owner and its ``tag_names`` filled
    from one query of plain tuples: loading tag links as ORM objects was
    most of the time of a page of 100 rows.
    """
    first = (page - 1) * pagesize
    query = (
        select(SearchResult)
        .where(
            SearchResult.search_id == search_id,
            SearchResult.sort == sort,
            SearchResult.order == order,
            SearchResult.position >= first,
            SearchResult.position < first + pagesize,
        )
        .order_by(SearchResult.position)
        .options(selectinload(SearchResult.question).selectinload(Question.owner))
    )
    rows = list(session.scalars(query))
    _preload_tags(session, [row.question for row in rows if row.question is not None])
    return rows


def _preload_tags(session: Session, questions: list[Question]) -> None:
    if not questions:
        return
    names: dict[int, list[str]] = {q.question_id: [] for q in questions}
    query = (
        select(QuestionTag.question_id, Tag.name)
        .join(Tag, Tag.id == QuestionTag.tag_id)
        .where(
            QuestionTag.site_id == questions[0].site_id,
            QuestionTag.question_id.in_(list(names)),
        )
        .order_by(QuestionTag.question_id, QuestionTag.position)
    )
    for question_id, name in session.execute(query):
        names[question_id].append(name)
    for question in questions:
        question.preloaded_tag_names = names[question.question_id]


def ordering_state(
    session: Session, search_id: int, sort: str, order: str
) -> tuple[int | None, int]:
    """(total rows if the end is known, rows stored) for one ordering."""
    ordering = session.get(SearchOrdering, (search_id, sort, order))
    stored = session.scalar(
        select(func.count()).where(
            SearchResult.search_id == search_id,
            SearchResult.sort == sort,
            SearchResult.order == order,
        )
    )
    return (ordering.total if ordering else None), stored or 0
