"""Storing API pages: keys, decoding, change tracking, on the real database."""

from datetime import datetime

import pytest
from sqlalchemy import func, select

from tests.factories import corpus_items, saved_searches
from webapp.models import (
    Owner,
    Question,
    QuestionTag,
    ResultPage,
    SearchResult,
    Site,
    Tag,
)
from webapp.services import results
from webapp.services.storage import write_session

CORPUS = "tests/sedouble/data/questions.jsonl"


@pytest.fixture(scope="module")
def so_items():
    return corpus_items()[:250]


@pytest.fixture
def search_id(session_factory):
    return saved_searches(session_factory, "python")[0]


def store(session_factory, search_id, items, api_page=1, has_more=True, sort="votes"):
    with write_session(session_factory) as session:
        return results.store_page(
            session, search_id, sort, "desc", api_page, items, has_more
        )


def count(session_factory, model):
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_storing_a_page_twice_adds_no_rows(session_factory, search_id, so_items):
    store(session_factory, search_id, so_items[:100])
    counts = [
        count(session_factory, m)
        for m in (Question, Owner, Tag, QuestionTag, SearchResult)
    ]

    report = store(session_factory, search_id, so_items[:100])

    assert [
        count(session_factory, m)
        for m in (Question, Owner, Tag, QuestionTag, SearchResult)
    ] == counts
    assert counts[0] == 100 and report.inserted == set() and report.changed == set()


def test_titles_and_names_are_stored_decoded(session_factory, search_id):
    item = {
        "question_id": 1,
        "title": "Why &quot;a&quot; &amp; &#39;b&#39; &lt;3",
        "tags": ["x"],
        "owner": {
            "user_id": 5,
            "display_name": "J&ouml;rg &amp; co",
            "user_type": "registered",
        },
        "score": 1,
        "answer_count": 0,
        "view_count": 3,
        "is_answered": False,
        "creation_date": 1,
        "last_activity_date": 2,
        "link": "https://x/q/1",
    }

    store(session_factory, search_id, [item])

    with session_factory() as session:
        question = session.get(Question, (session.scalar(select(Site.id)), 1))
        assert question.title == "Why \"a\" & 'b' <3"
        assert question.owner.display_name == "Jörg & co"


def test_deleted_owner_keeps_the_name_without_a_user_row(session_factory, search_id):
    item = {
        "question_id": 2,
        "title": "t",
        "tags": [],
        "score": 0,
        "answer_count": 0,
        "view_count": 0,
        "is_answered": False,
        "creation_date": 1,
        "last_activity_date": 1,
        "link": "l",
        "owner": {"user_type": "does_not_exist", "display_name": "Old Name"},
    }

    store(session_factory, search_id, [item])

    with session_factory() as session:
        question = session.scalar(select(Question))
        assert (question.owner_user_id, question.owner_name, question.owner) == (
            None,
            "Old Name",
            None,
        )


def test_tags_keep_the_api_order(session_factory, search_id, so_items):
    item = next(i for i in so_items if len(i["tags"]) >= 3)

    store(session_factory, search_id, [item])

    with session_factory() as session:
        assert session.scalar(select(Question)).tag_names == item["tags"]


def test_a_changed_score_is_reported_and_remembered(
    session_factory, search_id, so_items
):
    store(session_factory, search_id, so_items[:10])
    changed = dict(so_items[3], score=so_items[3]["score"] + 50)

    report = store(
        session_factory, search_id, so_items[:3] + [changed] + so_items[4:10]
    )

    assert report.changed == {changed["question_id"]}
    with session_factory() as session:
        question = session.scalar(
            select(Question).where(Question.question_id == changed["question_id"])
        )
        assert question.previous_score == so_items[3]["score"]
        assert question.score == changed["score"]


def test_positions_are_absolute_per_api_page(session_factory, search_id, so_items):
    store(session_factory, search_id, so_items[100:200], api_page=2)

    with session_factory() as session:
        rows = results.read_rows(session, search_id, "votes", "desc", 5, 25)

    assert [r.question_id for r in rows] == [
        i["question_id"] for i in so_items[100:125]
    ]


def test_a_shorter_last_page_drops_rows_and_pages_past_it(
    session_factory, search_id, so_items
):
    store(session_factory, search_id, so_items[:100], api_page=1)
    store(session_factory, search_id, so_items[100:200], api_page=2)

    store(session_factory, search_id, so_items[:60], api_page=1, has_more=False)

    with session_factory() as session:
        total, stored = results.ordering_state(session, search_id, "votes", "desc")
        pages = session.scalars(select(ResultPage.api_page)).all()
    assert (total, stored, pages) == (60, 60, [1])


def test_empty_page_with_has_more_is_taken_as_the_end(
    session_factory, search_id, caplog
):
    store(session_factory, search_id, [], api_page=1, has_more=True)

    with session_factory() as session:
        assert results.ordering_state(session, search_id, "votes", "desc") == (0, 0)
    assert "taken as the end" in caplog.text


def test_row_count_counts_distinct_questions_of_the_search(
    session_factory, search_id, so_items
):
    store(session_factory, search_id, so_items[:100], sort="votes")
    store(session_factory, search_id, so_items[50:150], sort="activity")

    with session_factory() as session:
        assert session.scalar(select(results.SavedSearch.row_count)) == 150


@pytest.mark.parametrize(
    "page, size, pages",
    [(1, 25, [1]), (4, 25, [1]), (5, 25, [2]), (2, 100, [2]), (3, 50, [2])],
)
def test_api_pages_for_a_page_of_rows(page, size, pages):
    assert list(results.api_pages_for(page, size)) == pages


def test_event_ids_are_never_reused(session_factory, search_id):
    from webapp.models import Event

    def add_event():
        with write_session(session_factory) as session:
            event = Event(
                search_id=search_id, created_at=datetime(2026, 1, 1), payload="{}"
            )
            session.add(event)
            session.flush()
            return event.id

    first, second = add_event(), add_event()
    with write_session(session_factory) as session:
        session.delete(session.get(Event, second))

    assert add_event() > second > first
