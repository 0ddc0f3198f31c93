"""The page cache through the whole app, on a real Redis server."""

import logging
import os
import signal
import time

import pytest
from pyramid.response import Response

from tests.factories import run_search
from webapp import cache
from webapp.services import page_cache

LINK_LOGGER = "webapp.services.redis_link"


def search_calls(api):
    return [call for call in api.calls if call.path.endswith("/search/advanced")]


def search_id(url):
    return int(url.rsplit("/", 1)[1])


@pytest.fixture
def results_url(testapp, api):
    url = run_search(testapp, q="python")
    api.clear_calls()
    return url


class TestHitsAndMisses:
    def test_first_view_misses_and_second_hits_without_api_call(
        self, testapp, api, results_url
    ):
        first = testapp.get(results_url)
        calls = len(search_calls(api))
        second = testapp.get(results_url)

        assert first.headers["X-Cache"] == "MISS"
        assert calls == 1
        assert second.headers["X-Cache"] == "HIT"
        assert second.body == first.body
        assert len(search_calls(api)) == 1

    def test_hit_keeps_status_and_content_type(self, testapp):
        first = testapp.get("/")

        second = testapp.get("/")

        assert second.status == first.status
        assert second.content_type == first.content_type == "text/html"

    def test_reordered_parameters_hit(self, testapp):
        testapp.get("/?sort=query&order=asc&pagesize=50")

        response = testapp.get("/?pagesize=50&order=asc&sort=query")

        assert response.headers["X-Cache"] == "HIT"

    def test_defaults_filled_in_share_an_entry(self, testapp, results_url):
        testapp.get(results_url)

        full = testapp.get(results_url + "?page=1&pagesize=25&sort=activity&order=desc")
        empty = testapp.get(results_url + "?page=&sort=")

        assert full.headers["X-Cache"] == "HIT"
        assert empty.headers["X-Cache"] == "HIT"

    def test_list_defaults_are_the_list_sorts(self, testapp):
        testapp.get("/")

        response = testapp.get("/?sort=created&order=desc&page=1")

        assert response.headers["X-Cache"] == "HIT"

    def test_other_parameters_get_their_own_entry(self, testapp, results_url):
        testapp.get(results_url)

        response = testapp.get(results_url + "?sort=votes")

        assert response.headers["X-Cache"] == "MISS"

    def test_hosts_get_their_own_entry(self, testapp):
        testapp.get("/")

        response = testapp.get("/", extra_environ={"HTTP_HOST": "example.org"})

        assert response.headers["X-Cache"] == "MISS"

    def test_head_is_answered_from_a_get_entry(self, testapp):
        testapp.get("/")

        response = testapp.head("/")

        assert response.headers["X-Cache"] == "HIT"
        assert response.body == b""

    def test_head_does_not_fill_the_cache(self, testapp):
        testapp.head("/")

        response = testapp.get("/")

        assert response.headers["X-Cache"] == "MISS"

    def test_unreadable_entry_is_a_miss(self, testapp, redis_server):
        testapp.get("/")
        client = redis_server.client()
        for key in client.keys(page_cache.PAGE_PREFIX + "*"):
            client.set(key, b"0\nnot json\n")

        response = testapp.get("/")

        assert response.status_int == 200
        assert response.headers["X-Cache"] == "MISS"

    def test_hits_carry_the_security_headers(self, testapp):
        testapp.get("/")

        response = testapp.get("/")

        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]

    def test_pages_outside_the_cache_carry_no_header(self, testapp, api):
        response = testapp.get("/search")

        assert "X-Cache" not in response.headers


class TestNeverCached:
    def test_not_found(self, testapp, api):
        testapp.get("/searches/999", status=404)

        response = testapp.get("/searches/999", status=404)

        assert response.headers["X-Cache"] == "MISS"

    def test_bad_parameter(self, testapp):
        testapp.get("/?sort=title", status=400)

        response = testapp.get("/?sort=title", status=400)

        assert response.headers["X-Cache"] == "MISS"

    def test_parameter_given_twice_does_not_hit_the_single_one(self, testapp):
        testapp.get("/?page=1")

        response = testapp.get("/?page=1&page=1", status=400)

        assert "X-Cache" not in response.headers

    def test_redirect(self, testapp, api):
        testapp.get("/search?site=stackoverflow&q=python", status=303)

        response = testapp.get("/search?site=stackoverflow&q=python", status=303)

        assert response.headers.get("X-Cache") != "HIT"

    def test_degraded_page_marked_no_store(self, testapp, api, results_url):
        api.fail("search/advanced", "unavailable")
        first = testapp.get(results_url)

        second = testapp.get(results_url)

        assert "no-store" in first.headers["Cache-Control"]
        assert second.headers["X-Cache"] == "MISS"
        assert "no-store" not in second.headers.get("Cache-Control", "")

    @pytest.mark.parametrize(
        "status, headers",
        [
            (200, {"Set-Cookie": "session=1"}),
            (200, {"Cache-Control": "no-store"}),
            (200, {"Cache-Control": "private"}),
            (500, {}),
        ],
    )
    def test_uncacheable_responses(self, status, headers):
        response = Response(b"page", status=status, headers=headers)

        assert not cache._cacheable(response)

    def test_plain_page_is_cacheable(self):
        assert cache._cacheable(Response(b"page"))


class TestExpiryAndPurge:
    @pytest.fixture
    def app_settings(self, app_settings):
        return dict(app_settings, **{"cache.ttl": "1"})

    def test_entry_expires_after_the_ttl(self, testapp):
        testapp.get("/")
        time.sleep(1.2)

        response = testapp.get("/")

        assert response.headers["X-Cache"] == "MISS"

    def test_purge_search_leaves_other_searches(self, testapp, api, redis_server):
        first, second = run_search(testapp, q="python"), run_search(testapp, q="java")
        testapp.get(first)
        testapp.get(second)

        page_cache.purge_search(redis_server.client(), search_id(first))

        assert testapp.get(first).headers["X-Cache"] == "MISS"
        assert testapp.get(second).headers["X-Cache"] == "HIT"

    def test_purge_search_purges_the_list(self, testapp, results_url, redis_server):
        testapp.get("/")

        page_cache.purge_search(redis_server.client(), search_id(results_url))

        assert testapp.get("/").headers["X-Cache"] == "MISS"

    def test_saving_a_search_purges_the_list(self, testapp, api):
        testapp.get("/")

        run_search(testapp, q="python")
        response = testapp.get("/")

        assert response.headers["X-Cache"] == "MISS"
        assert "python" in response.text

    def test_fetching_rows_purges_the_list(self, testapp, api, results_url):
        testapp.get("/")

        testapp.get(results_url)
        response = testapp.get("/")

        assert response.headers["X-Cache"] == "MISS"

    def test_page_rendered_during_a_purge_is_stale(self, app, redis_server):
        link = app.registry["redis"]
        cache_ = page_cache.PageCache(link, ttl=60)
        lookup = cache_.lookup("search:7", "GET http://localhost/searches/7?")

        page_cache.purge_search(redis_server.client(), 7)
        cache_.store(lookup, page_cache.CachedPage("200 OK", [], b"old"))

        assert (
            cache_.lookup("search:7", "GET http://localhost/searches/7?").page is None
        )


class TestRedisOutage:
    def test_pages_stay_up_with_one_warning(
        self, testapp, api, results_url, redis_server, caplog
    ):
        testapp.get(results_url)
        redis_server.stop()

        with caplog.at_level(logging.INFO, logger=LINK_LOGGER):
            responses = [
                testapp.get(url) for url in (results_url, "/", results_url, "/")
            ]

        assert [r.status_int for r in responses] == [200] * 4
        assert {r.headers["X-Cache"] for r in responses} == {"MISS"}
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1
        assert warnings[0].name == LINK_LOGGER

    def test_caching_resumes_when_redis_returns(self, testapp, redis_server, caplog):
        redis_server.stop()
        testapp.get("/")
        redis_server.start()
        time.sleep(1.1)

        with caplog.at_level(logging.INFO, logger=LINK_LOGGER):
            first = testapp.get("/")
        second = testapp.get("/")

        assert first.headers["X-Cache"] == "MISS"
        assert second.headers["X-Cache"] == "HIT"
        assert [r.levelname for r in caplog.records if r.name == LINK_LOGGER] == [
            "WARNING",
            "INFO",
        ]

    def test_purge_lost_in_an_outage_is_made_good_when_redis_returns(
        self, testapp, api, redis_server
    ):
        testapp.get("/")
        assert testapp.get("/").headers["X-Cache"] == "HIT"
        # A frozen Redis keeps its data but cannot take the purge.
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            run_search(testapp, q="python")
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        time.sleep(1.1)

        response = testapp.get("/")

        assert response.headers["X-Cache"] == "MISS"
        assert "python" in response.text

    def test_dead_redis_is_not_asked_again_within_a_second(
        self, testapp, app, redis_server
    ):
        redis_server.stop()
        testapp.get("/")
        link = app.registry["redis"]
        link.client = None  # any attempt to use it now would raise

        response = testapp.get("/")

        assert response.status_int == 200

    def test_hung_redis_costs_one_short_timeout(self, testapp, redis_server):
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            first = testapp.get("/")
            first_took = time.monotonic() - started
            started = time.monotonic()
            second = testapp.get("/")
            second_took = time.monotonic() - started
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)

        assert first.status_int == second.status_int == 200
        assert 0.2 < first_took < 0.9
        assert second_took < 0.2


class TestRedisNeverRan:
    @pytest.fixture
    def app_settings(self, app_settings):
        from tests.servers import free_port

        return dict(app_settings, **{"redis.url": f"redis://127.0.0.1:{free_port()}/0"})

    def test_pages_are_served_with_one_warning(self, testapp, caplog):
        responses = [testapp.get("/"), testapp.get("/?page=1")]

        assert [r.status_int for r in responses] == [200, 200]
        assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
