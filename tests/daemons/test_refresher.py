"""The refresher against the API test double, a real Redis and both databases.

Searches are saved and viewed through the web app, so their pages are stored
exactly as a user leaves them; the double's data is then changed and a cycle
run.  Pages fetched by the web app are backdated by two minutes ("viewed a
while ago"), since no request may be repeated within a minute.
"""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from itertools import pairwise

import pytest
import redis
from sqlalchemy import func, select

from tests.conftest import TEST_INI
from webapp import settings as stackwatch_settings
from webapp.models import (
    Event,
    Refresh,
    RefreshLock,
    ResultPage,
    SavedSearch,
    SearchResult,
)
from webapp.services import refresh as refresh_service
from webapp.services import request_log
from webapp.services.api_state import utcnow
from webapp.services.redis_link import RedisLink
from webapp.services.refresh import Refresher
from webapp.services.search_lock import KEY_PREFIX as LOCK_PREFIX
from webapp.services.search_lock import SearchLocks, holder_is_gone

SITE = "beer"
ROW = re.compile(r'<tr data-question-id="(\d+)" class="([^"]*)"')
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# -- fixtures and helpers ----------------------------------------------------


@pytest.fixture
def settings(app_settings):
    return stackwatch_settings.parse(app_settings, environ={})


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    yield client
    client.close()


@pytest.fixture
def make_refresher(settings, session_factory, redis_url):
    """Build refreshers on the test servers; keyword arguments override settings."""
    links = []

    def make(redis=True, **options):
        link = RedisLink(redis_url, 1.0) if redis else None
        links.append(link)
        return Refresher.from_settings(settings, session_factory, link, **options)

    yield make
    for link in filter(None, links):
        link.client.close()


@pytest.fixture
def refresher(make_refresher):
    return make_refresher()


def view(testapp, sort="votes", **params):
    """Save a search on the beer site and view its first page; return its id."""
    response = testapp.get("/search", params=dict(params, site=SITE), status=303)
    search_id = int(response.headers["Location"].rsplit("/", 1)[1].split("?")[0])
    testapp.get(f"/searches/{search_id}", params={"sort": sort, "pagesize": 100})
    return search_id


@pytest.fixture
def later(session_factory, redis_client):
    """Make the requests made so far two minutes old, as if time had passed."""

    def advance(seconds=120):
        with session_factory.begin() as session:
            for page in session.scalars(select(ResultPage)):
                page.fetched_at -= timedelta(seconds=seconds)
            for search in session.scalars(select(SavedSearch)):
                if search.refreshed_at is not None:
                    search.refreshed_at -= timedelta(seconds=seconds)
        for key in redis_client.scan_iter(match=f"{request_log.KEY_PREFIX}*"):
            redis_client.delete(key)

    return advance


def search_calls(api):
    return [call for call in api.calls if call.path.endswith("/search/advanced")]


def stored_pages(session_factory, search_id=None):
    query = select(func.count()).select_from(ResultPage)
    if search_id is not None:
        query = query.where(ResultPage.search_id == search_id)
    with session_factory() as session:
        return session.scalar(query)


def rows(testapp, search_id, sort="votes"):
    """(question id, row class) of the results page, in order."""
    response = testapp.get(
        f"/searches/{search_id}", params={"sort": sort, "pagesize": 100}
    )
    return [(int(qid), cls) for qid, cls in ROW.findall(response.text)]


def refreshes(session_factory, search_id):
    with session_factory() as session:
        return session.scalars(
            select(Refresh).where(Refresh.search_id == search_id)
        ).all()


def subscribe(redis_client, channel):
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel)
    # Wait for the confirmation, so that nothing published later is missed.
    assert pubsub.get_message(timeout=2) is None or True
    return pubsub


def published(pubsub, wait=0.5):
    messages, deadline = [], time.monotonic() + wait
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message and message["type"] == "message":
            messages.append(json.loads(message["data"]))
    return messages


# -- what a cycle finds and shows ---------------------------------------------


class TestChanges:
    def test_climber_on_top_and_newcomer_marked(
        self, testapp, api, session_factory, refresher, later
    ):
        api.hide_question(SITE, 5)
        search_id = view(testapp, q="beer")
        before = rows(testapp, search_id)
        climber = before[-1][0]
        later()
        api.set_question(SITE, climber, score=10_000)
        api.reveal_question(SITE, 5)

        refresher.run_cycle(once=True)

        after = rows(testapp, search_id)
        assert after[0] == (climber, "changed")
        assert (5, "new") in after
        assert [cls for qid, cls in after if qid not in (climber, 5)] == [""] * (
            len(after) - 2
        )

    def test_counts_recorded_and_shown_in_the_list(
        self, testapp, api, session_factory, refresher, later
    ):
        api.hide_question(SITE, 5)
        search_id = view(testapp, q="beer")
        climber = rows(testapp, search_id)[-1][0]
        later()
        api.set_question(SITE, climber, score=10_000)
        api.reveal_question(SITE, 5)

        refresher.run_cycle(once=True)

        [refresh] = refreshes(session_factory, search_id)
        assert (refresh.new_count, refresh.changed_count, refresh.error) == (1, 1, None)
        assert refresh.api_calls == stored_pages(session_factory, search_id)
        listing = testapp.get("/").text
        assert "refreshed just now" in listing
        assert "1 new, 1 changed" in listing

    def test_nothing_changed_records_the_refresh_only(
        self, testapp, api, session_factory, refresher, later
    ):
        search_id = view(testapp, q="beer")
        later()

        report = refresher.run_cycle(once=True)

        [refresh] = refreshes(session_factory, search_id)
        assert (refresh.new_count, refresh.changed_count) == (0, 0)
        assert (report.refreshed, report.new, report.changed, report.messages) == (
            1,
            0,
            0,
            {},
        )
        assert all(cls == "" for _, cls in rows(testapp, search_id))
        with session_factory() as session:
            assert (
                session.get(SavedSearch, search_id).refreshed_at == refresh.started_at
            )
            assert session.scalar(select(func.count()).select_from(Event)) == 0

    def test_vanished_question_leaves_no_stale_row(
        self, testapp, api, session_factory, refresher, later
    ):
        search_id = view(testapp, tagged="taste")
        before = rows(testapp, search_id)
        later()
        api.remove_question(SITE, before[0][0])

        refresher.run_cycle(once=True)

        after = rows(testapp, search_id)
        assert [qid for qid, _ in after] == [qid for qid, _ in before[1:]]
        with session_factory() as session:
            positions = session.scalars(
                select(SearchResult.position).where(SearchResult.search_id == search_id)
            ).all()
        assert sorted(positions) == list(range(len(before) - 1))

    def test_no_duplicate_rows_after_two_cycles(
        self, testapp, api, session_factory, refresher, later
    ):
        search_id = view(testapp, q="beer")
        view(testapp, q="beer", sort="activity")
        later()
        api.set_question(SITE, 7, score=500)
        refresher.run_cycle(once=True)
        later()

        refresher.run_cycle(once=True)

        with session_factory() as session:
            results = session.execute(
                select(
                    SearchResult.sort, SearchResult.order, SearchResult.question_id
                ).where(SearchResult.search_id == search_id)
            ).all()
            refreshed = session.scalar(select(func.count()).select_from(Refresh))
        assert len(results) == len(set(results))
        assert refreshed == 2


class TestAnnouncements:
    def test_one_message_per_changed_search(
        self, testapp, api, session_factory, refresher, later, redis_client, settings
    ):
        changing = view(testapp, q="beer")
        view(testapp, tagged="taste")
        view(testapp, tagged="history")
        climber = rows(testapp, changing)[-1][0]
        later()
        api.set_question(SITE, climber, score=10_000)
        pubsub = subscribe(redis_client, settings.channel)

        refresher.run_cycle(once=True)

        [message] = published(pubsub)
        with session_factory() as session:
            [event] = session.scalars(select(Event)).all()
        assert message == json.loads(event.payload)
        assert message == {
            "event_id": event.id,
            "search_id": changing,
            "site": SITE,
            "query": "beer",
            "new": 0,
            "changed": 1,
            "time": message["time"],
            "url": f"/searches/{changing}",
        }
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", message["time"])
        assert testapp.get(message["url"]).status_int == 200

    def test_nothing_published_when_nothing_changed(
        self, testapp, api, session_factory, refresher, later, redis_client, settings
    ):
        view(testapp, q="beer")
        view(testapp, tagged="taste")
        later()
        pubsub = subscribe(redis_client, settings.channel)

        report = refresher.run_cycle(once=True)

        assert report.refreshed == 2
        assert published(pubsub) == []

    def test_event_ids_grow(self, testapp, api, session_factory, refresher, later):
        first, second = view(testapp, q="beer"), view(testapp, tagged="taste")
        later()
        api.set_question(SITE, rows(testapp, first)[-1][0], score=10_000)
        api.set_question(SITE, rows(testapp, second)[-1][0], score=20_000)

        report = refresher.run_cycle(once=True)

        ids = [json.loads(report.messages[s])["event_id"] for s in (first, second)]
        assert ids[0] < ids[1]

    def test_cached_page_is_purged(
        self, testapp, api, session_factory, refresher, later
    ):
        search_id = view(testapp, q="beer")
        url = f"/searches/{search_id}?sort=votes&pagesize=100"
        testapp.get(url)
        assert testapp.get(url).headers["X-Cache"] == "HIT"
        testapp.get("/")
        assert testapp.get("/").headers["X-Cache"] == "HIT"
        later()
        climber = rows(testapp, search_id)[-1][0]
        api.set_question(SITE, climber, score=10_000)

        refresher.run_cycle(once=True)

        response = testapp.get(url)
        assert response.headers["X-Cache"] == "MISS"
        assert ROW.findall(response.text)[0] == (str(climber), "changed")
        assert testapp.get("/").headers["X-Cache"] == "MISS"


# -- the API's limits -----------------------------------------------------------


class TestLimits:
    def test_calls_spent_are_the_stored_pages(
        self, testapp, api, session_factory, refresher, later
    ):
        search_id = view(testapp, q="beer")
        testapp.get(
            f"/searches/{search_id}",
            params={"sort": "votes", "pagesize": 100, "page": 2},
        )
        view(testapp, q="beer", sort="activity")
        view(testapp, tagged="taste")
        later()
        api.clear_calls()

        report = refresher.run_cycle(once=True)

        calls = search_calls(api)
        assert stored_pages(session_factory, search_id) == 3
        assert len(calls) == report.calls == stored_pages(session_factory) == 4
        assert all(call.params["pagesize"] == "100" for call in calls)
        assert len({tuple(sorted(call.params.items())) for call in calls}) == 4

    def test_web_app_request_is_not_repeated_within_the_window(
        self, testapp, api, session_factory, make_refresher
    ):
        search_id = view(testapp, q="beer")
        [viewed] = search_calls(api)
        climber = rows(testapp, search_id)[-1][0]
        api.set_question(SITE, climber, score=10_000)

        report = make_refresher(repeat_window=1.5).run_cycle(once=True)

        [first, again] = search_calls(api)
        assert again.params == viewed.params
        assert again.time - viewed.time >= 1.5
        assert report.refreshed == 1
        assert rows(testapp, search_id)[0] == (climber, "changed")

    def test_unstored_request_is_not_repeated_within_the_window(
        self, testapp, api, session_factory, make_refresher, later
    ):
        # A refresher killed after sending a request left only its claim.
        search_id = view(testapp, tagged="taste")
        later()
        refresher = make_refresher(repeat_window=1.5)
        with session_factory() as session:
            search = session.get(SavedSearch, search_id)
            params = dict(
                refresh_service.api_params(refresh_service.search_params(search))
            )
        query = dict(
            params, site=SITE, sort="votes", order="desc", page=1, pagesize=100
        )
        assert refresher.request_log.claim("search/advanced", query) == 0
        claimed = time.time()

        refresher.run_cycle(once=True)

        [call] = search_calls(api)[1:]
        assert call.time - claimed >= 1.4

    def test_second_once_within_a_minute_skips_what_was_just_refreshed(
        self, testapp, api, session_factory, refresher, later
    ):
        view(testapp, q="beer")
        later()
        refresher.run_cycle(once=True)
        api.clear_calls()

        report = refresher.run_cycle(once=True)

        assert (report.refreshed, report.skipped, report.calls) == (0, 1, 0)
        assert search_calls(api) == []

    def test_backoff_is_waited_out(
        self, testapp, api, session_factory, refresher, later
    ):
        view(testapp, q="beer")
        view(testapp, tagged="taste")
        later()
        api.clear_calls()
        api.set_backoff("search/advanced", 2)

        report = refresher.run_cycle(once=True)

        first, second = search_calls(api)
        assert second.time - first.time >= 2
        assert (report.refreshed, report.failed) == (2, 0)

    def test_long_backoff_ends_the_cycle(
        self, testapp, api, session_factory, refresher, later, caplog
    ):
        view(testapp, q="beer")
        view(testapp, tagged="taste")
        later()
        api.clear_calls()
        api.set_backoff("search/advanced", 600)

        report = refresher.run_cycle(once=True)

        assert len(search_calls(api)) == 1
        assert report.refreshed == 1 and report.ended_early
        assert warnings(caplog) == [f"cycle ended early: {report.ended_early}"]

    def test_throttle_ends_the_cycle(
        self, testapp, api, session_factory, refresher, later, caplog
    ):
        for query in ("beer", "hops", "ale"):
            view(testapp, q=query)
        later()
        api.clear_calls()
        api.fail("search/advanced", "throttle", seconds=300)

        report = refresher.run_cycle(once=True)

        assert len(search_calls(api)) == 1
        assert (report.refreshed, report.failed, report.calls) == (0, 1, 1)
        assert (
            len(warnings(caplog)) == 1 and "throttle_violation" in warnings(caplog)[0]
        )
        with session_factory() as session:
            [failed] = session.scalars(select(Refresh)).all()
        assert "throttle_violation" in failed.error and failed.api_calls == 1

    def test_quota_reserve_ends_the_cycle(
        self, testapp, api, session_factory, refresher, later, settings, caplog
    ):
        for query in ("beer", "hops", "ale"):
            view(testapp, q=query)
        later()
        api.clear_calls()
        api.set_quota(settings.quota_reserve + 1)

        report = refresher.run_cycle(once=True)

        assert len(search_calls(api)) == 1
        assert report.refreshed == 1 and "quota" in report.ended_early
        assert len(warnings(caplog)) == 1

    def test_budget_goes_to_viewed_then_least_recently_refreshed(
        self, testapp, api, session_factory, make_refresher, later
    ):
        ids = [view(testapp, q=query) for query in ("beer", "hops", "ale", "lager")]
        later()
        with session_factory.begin() as session:
            hour = timedelta(hours=1)
            for search_id, viewed, refreshed in zip(
                ids, (3, 0, 3, 3), (1, 2, None, 3), strict=True
            ):
                search = session.get(SavedSearch, search_id)
                search.last_viewed_at = utcnow() - viewed * hour
                search.refreshed_at = utcnow() - refreshed * hour if refreshed else None
        api.clear_calls()

        report = make_refresher(budget=2).run_cycle(once=True)

        refreshed = {s for s in ids if refreshes(session_factory, s)}
        assert refreshed == {ids[1], ids[2]}
        assert report.calls == 2

    def test_calls_are_paced(
        self, testapp, api, session_factory, make_refresher, later
    ):
        for query in ("beer", "hops", "ale", "lager"):
            view(testapp, q=query)
        later()
        api.clear_calls()

        make_refresher(pace=4).run_cycle(once=True)

        times = [call.time for call in search_calls(api)]
        assert len(times) == 4
        assert min(b - a for a, b in pairwise(times)) >= 0.24

    def test_empty_answer_promising_more_keeps_the_stored_rows(
        self, testapp, api, session_factory, refresher, later
    ):
        search_id = view(testapp, q="ipa")
        before = rows(testapp, search_id)
        later()
        api.fail("search/advanced", "empty_has_more")

        report = refresher.run_cycle(once=True)

        assert report.failed == 1
        assert rows(testapp, search_id) == before and len(before) > 10

    def test_failure_on_one_search_does_not_stop_the_cycle(
        self, testapp, api, session_factory, refresher, later, caplog
    ):
        for query in ("beer", "hops", "ale"):
            view(testapp, q=query)
        later()
        api.fail("search/advanced", "internal")

        report = refresher.run_cycle(once=True)

        assert (report.refreshed, report.failed, report.ended_early) == (2, 1, None)
        assert len(warnings(caplog)) == 1 and "refresh failed" in warnings(caplog)[0]


def warnings(caplog):
    """The refresher's own warnings (the API client reports backoffs too)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= 30 and r.name.startswith(("webapp.services.refresh", "daemons"))
    ]


# -- several refreshers, crashes and signals -----------------------------------


def refresher_process(app_settings, *args, ini=TEST_INI, **environ):
    """Start ``stackwatch-refresher`` on the test servers, as supervisord would."""
    env = dict(
        os.environ,
        STACKWATCH_DATABASE_URL=app_settings["sqlalchemy.url"],
        STACKWATCH_API_URL=app_settings["stackexchange.api_url"],
        STACKWATCH_REDIS_URL=app_settings["redis.url"],
    )
    env.update(environ)
    command = [sys.executable, "-c", RUN_MAIN, str(ini), *args]
    return subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


# What the stackwatch-refresher console script runs.
RUN_MAIN = "import sys; from daemons.refresher import main; sys.exit(main())"


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def each_search_refreshed_once(session_factory):
    with session_factory() as session:
        counts = session.execute(
            select(SavedSearch.id, func.count(Refresh.id))
            .outerjoin(Refresh, Refresh.search_id == SavedSearch.id)
            .group_by(SavedSearch.id)
        ).all()
    return all(count == 1 for _, count in counts)


QUERIES = ("beer", "hops", "ale", "lager", "stout", "wine")


class TestConcurrency:
    def test_two_refreshers_in_threads_share_the_searches(
        self, testapp, api, session_factory, make_refresher, later
    ):
        for query in QUERIES:
            view(testapp, q=query)
        later()
        api.clear_calls()
        api.fail("search/advanced", "slow", times=len(QUERIES), seconds=0.2)
        refreshers = [make_refresher(), make_refresher()]
        start = threading.Barrier(2)

        def run(refresher):
            start.wait()
            refresher.run_cycle(once=True)

        threads = [threading.Thread(target=run, args=(r,)) for r in refreshers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        assert len(search_calls(api)) == stored_pages(session_factory) == len(QUERIES)
        assert each_search_refreshed_once(session_factory)

    def test_two_refresher_processes_started_together_share_the_searches(
        self, testapp, api, session_factory, app_settings, later
    ):
        for query in QUERIES:
            view(testapp, q=query)
        later()
        api.clear_calls()
        api.fail("search/advanced", "slow", times=len(QUERIES), seconds=0.2)

        processes = [refresher_process(app_settings, "--once") for _ in range(2)]
        outputs = [p.communicate(timeout=60)[0] for p in processes]

        assert [p.returncode for p in processes] == [0, 0], outputs
        assert len(search_calls(api)) == stored_pages(session_factory) == len(QUERIES)
        assert each_search_refreshed_once(session_factory)

    def test_without_redis_locks_are_kept_in_the_database(
        self, testapp, api, session_factory, make_refresher, later, redis_server
    ):
        for query in QUERIES:
            view(testapp, q=query)
        later()
        api.clear_calls()
        redis_server.stop()
        api.fail("search/advanced", "slow", times=len(QUERIES), seconds=0.2)
        refreshers = [make_refresher(), make_refresher()]
        threads = [
            threading.Thread(target=r.run_cycle, kwargs={"once": True})
            for r in refreshers
        ]

        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        assert len(search_calls(api)) == len(QUERIES)
        assert each_search_refreshed_once(session_factory)
        with session_factory() as session:
            assert session.scalar(select(func.count()).select_from(RefreshLock)) == 0
            assert session.scalar(select(func.count()).select_from(Event)) == 0

    def test_sigkill_mid_cycle_then_a_clean_cycle(
        self, testapp, api, session_factory, app_settings, later, redis_client
    ):
        ids = [view(testapp, q=query) for query in QUERIES]
        later()
        for search_id in ids:
            api.set_question(
                SITE, rows(testapp, search_id)[-1][0], score=10_000 + search_id
            )
        api.clear_calls()
        api.fail("search/advanced", "slow", times=100, seconds=0.5)
        cycle_start = utcnow()

        process = refresher_process(app_settings, "--once")
        wait_for(lambda: len(search_calls(api)) >= 3)
        process.kill()
        process.wait(10)

        # Each search is either refreshed and stored whole, or as it was.
        with session_factory() as session:
            done = set(session.scalars(select(Refresh.search_id)))
            for search_id in ids:
                fetched = session.scalars(
                    select(ResultPage.fetched_at).where(
                        ResultPage.search_id == search_id
                    )
                ).all()
                assert all(
                    (when > cycle_start) == (search_id in done) for when in fetched
                )
        assert 1 <= len(done) < len(ids)
        assert redis_client.exists(*[f"{LOCK_PREFIX}{i}" for i in ids]) == 1

        # A minute later (the killed one's last request may not be repeated
        # sooner), the next cycle refreshes the rest, taking over the lock.
        later(seconds=0)
        process = refresher_process(app_settings, "--once")
        output = process.communicate(timeout=60)[0]

        assert process.returncode == 0, output
        assert "took over the lock" in output
        assert each_search_refreshed_once(session_factory)
        for search_id in ids:
            # Climbers may also have climbed into other searches' top 100.
            assert rows(testapp, search_id)[0][1] in ("changed", "new")

    def test_sigterm_stops_within_seconds(
        self, testapp, api, session_factory, app_settings, later
    ):
        for query in QUERIES:
            view(testapp, q=query)
        later()
        api.clear_calls()
        api.fail("search/advanced", "slow", times=100, seconds=2)
        process = refresher_process(app_settings)
        wait_for(lambda: len(search_calls(api)) >= 1)

        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=10)[0]

        assert process.returncode == 0
        assert time.monotonic() - sent < 4
        assert "SIGTERM received" in output and "refresher stopped" in output

    def test_sigterm_during_a_hung_call_exits_anyway(
        self, testapp, api, session_factory, app_settings, later, tmp_path
    ):
        # With production's timeouts a call can hang for 25 s.
        ini = tmp_path / "slow.ini"
        ini.write_text(
            open(TEST_INI)
            .read()
            .replace("read_timeout = 3", "read_timeout = 20")
            .replace("total_timeout = 5", "total_timeout = 25")
        )
        view(testapp, q="beer")
        later()
        api.clear_calls()
        api.fail("search/advanced", "hang", seconds=30)
        process = refresher_process(app_settings, ini=ini)
        wait_for(lambda: len(search_calls(api)) >= 1)

        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=10)[0]

        assert process.returncode == 0
        assert time.monotonic() - sent < 7
        assert "stopped without finishing the current search" in output
        assert refreshes(session_factory, 1) == []

    def test_lock_of_an_ended_process_is_taken_over(
        self, session_factory, redis_client, api
    ):
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        locks = SearchLocks(redis_client, session_factory, ttl=300)
        redis_client.set(
            f"{LOCK_PREFIX}1", f"{os.uname().nodename}:{dead.pid}:x", px=300_000
        )
        redis_client.set(f"{LOCK_PREFIX}2", f"{os.uname().nodename}:1:x", px=300_000)
        redis_client.set(f"{LOCK_PREFIX}3", f"elsewhere:{dead.pid}:x", px=300_000)

        assert locks.acquire_in_redis(1) is not None
        assert locks.acquire_in_redis(2) is None
        assert locks.acquire_in_redis(3) is None
        assert holder_is_gone(f"{os.uname().nodename}:{dead.pid}:x")

    def test_database_lock_is_exclusive_until_it_expires_or_its_holder_ends(
        self, testapp, api, session_factory
    ):
        ids = [view(testapp, q=query) for query in ("beer", "hops", "ale")]
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        locks = SearchLocks(None, session_factory, ttl=300)
        with session_factory.begin() as session:
            expired = utcnow() - timedelta(seconds=1)
            session.add(
                RefreshLock(search_id=ids[1], owner="x:1:x", expires_at=expired)
            )
            session.add(
                RefreshLock(
                    search_id=ids[2],
                    owner=f"{os.uname().nodename}:{dead.pid}:x",
                    expires_at=utcnow() + timedelta(seconds=300),
                )
            )

        first = locks.acquire_in_database(ids[0])

        assert first is not None and locks.acquire_in_database(ids[0]) is None
        assert locks.acquire_in_database(ids[1]) is not None
        assert locks.acquire_in_database(ids[2]) is not None
        locks.release(first)
        assert locks.acquire_in_database(ids[0]) is not None


# -- the command line -------------------------------------------------------------


class TestCommandLine:
    def test_once_runs_one_cycle_and_exits_0(
        self, testapp, api, session_factory, app_settings, later
    ):
        view(testapp, q="beer")
        later()

        process = refresher_process(app_settings, "--once")
        output = process.communicate(timeout=30)[0]

        assert process.returncode == 0, output
        assert each_search_refreshed_once(session_factory)
        assert re.search(
            r"INFO  \[webapp.services.refresh\] cycle: 1 refreshed", output
        )
        assert " WARN" not in output and " ERROR" not in output

    def test_daemon_runs_a_cycle_every_interval(
        self, app_settings, session_factory, tmp_path
    ):
        ini = tmp_path / "fast.ini"
        ini.write_text(
            open(TEST_INI)
            .read()
            .replace("refresher.interval = 600", "refresher.interval = 1")
        )
        process = refresher_process(app_settings, ini=ini)
        cycles = []
        for line in process.stdout:
            cycles += [line] if "cycle: 0 refreshed" in line else []
            if len(cycles) == 2:
                break

        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)

        assert process.returncode == 0
        assert len(cycles) == 2

    def test_bad_setting_exits_2(self, app_settings, tmp_path):
        ini = tmp_path / "bad.ini"
        ini.write_text(
            open(TEST_INI).read().replace("refresher.pace = 5", "refresher.pace = fast")
        )

        process = refresher_process(app_settings, "--once", ini=ini)
        output = process.communicate(timeout=30)[0]

        assert process.returncode == 2
        assert "refresher.pace" in output

    def test_unreachable_database_exits_1(self, app_settings, tmp_path):
        missing = f"sqlite:///{tmp_path}/missing/none.sqlite"

        process = refresher_process(
            app_settings, "--once", STACKWATCH_DATABASE_URL=missing
        )
        output = process.communicate(timeout=30)[0]

        assert process.returncode == 1
        assert "refresh cycle failed" in output

    def test_happy_path_logs_nothing_above_info(
        self, testapp, api, session_factory, refresher, later, caplog
    ):
        view(testapp, q="beer")
        later()
        api.set_question(SITE, 7, score=400)
        caplog.set_level(logging.DEBUG)

        refresher.run_cycle(once=True)

        assert [r for r in caplog.records if r.levelno > 20] == []
        assert any(
            r.getMessage().startswith("cycle: 1 refreshed") for r in caplog.records
        )
