"""Two processes writing at once: no "database is locked", no duplicate rows."""

import multiprocessing
import os
import random
import time

import pytest
from sqlalchemy import func, select

from tests.factories import corpus_items, saved_searches
from webapp.models import Question, SavedSearch, get_engine, get_session_factory
from webapp.services import results
from webapp.services.storage import write_session

CORPUS = "tests/sedouble/data/questions.jsonl"
SOAK_SECONDS = float(os.environ.get("STACKWATCH_SOAK_SECONDS", "60"))


def _seed(session_factory, count):
    return saved_searches(session_factory, *(f"query {n}" for n in range(count)))


def _writer(database_url, search_ids, sort, seconds, start, errors, writes):
    """Store pages over and over, as the web app or the refresher does."""
    engine = get_engine(database_url)
    session_factory = get_session_factory(engine)
    items = corpus_items()
    start.wait()
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        page = items[(n * 37) % 600 : (n * 37) % 600 + 100]
        try:
            with write_session(session_factory) as session:
                results.store_page(
                    session,
                    search_ids[n % len(search_ids)],
                    sort,
                    "desc",
                    1,
                    page,
                    True,
                )
            with session_factory() as session:
                session.scalar(select(func.count(Question.question_id)))
            writes.value += 1
            # Requests and refresh steps come apart, not back to back.
            time.sleep(random.uniform(0, 0.05))
        except Exception as exc:  # the test counts every failure
            errors.put(f"{type(exc).__name__}: {exc}"[:300])
        n += 1
    engine.dispose()


def _run_writers(database_url, search_ids, seconds):
    context = multiprocessing.get_context("spawn")
    start, errors = context.Barrier(2), context.Queue()
    writes = [context.Value("i", 0), context.Value("i", 0)]
    workers = [
        context.Process(
            target=_writer,
            args=(database_url, search_ids, sort, seconds, start, errors, count),
        )
        for sort, count in zip(("activity", "votes"), writes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 60)
    found = []
    while not errors.empty():
        found.append(errors.get())
    return found, [w.value for w in writes], [w.exitcode for w in workers]


def test_sqlite_web_app_and_refresher_write_together_without_locking(
    backend, database_url, session_factory
):
    if backend != "sqlite":
        pytest.skip("the SQLite soak; PostgreSQL has its own test below")
    search_ids = _seed(session_factory, 5)

    errors, writes, exit_codes = _run_writers(database_url, search_ids, SOAK_SECONDS)

    assert errors == []
    assert exit_codes == [0, 0]
    assert min(writes) > 10
    print(f"soak: {SOAK_SECONDS:.0f} s, writes per process {writes}")


def test_same_questions_stored_by_two_processes_at_once_are_one_row_each(
    database_url, session_factory
):
    search_ids = _seed(session_factory, 2)

    errors, writes, exit_codes = _run_writers(database_url, search_ids, 5)

    assert errors == [] and exit_codes == [0, 0]
    with session_factory() as session:
        ids = session.scalars(select(Question.question_id)).all()
        assert len(ids) == len(set(ids))
        assert session.scalar(select(func.count()).select_from(SavedSearch)) == 2
