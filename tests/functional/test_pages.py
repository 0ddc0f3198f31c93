"""Every page through the whole app (WebTest), against the API test double."""

import html
import re

import pytest

from tests.factories import run_search
from webapp.services.stackexchange import StackExchangeClient

ROW = re.compile(r'data-question-id="(\d+)"')
SORTS = ("activity", "creation", "votes", "relevance")


def row_ids(response):
    return [int(i) for i in ROW.findall(response.text)]


def api_order(api, site, params, sort, order, rows):
    """The question ids the API double returns, in its order, up to ``rows``."""
    client = StackExchangeClient(api.url)
    ids, page = [], 1
    while len(ids) < rows:
        response = client.search_advanced(site, params, sort, order, page)
        ids += [item["question_id"] for item in response.items]
        if not response.has_more:
            break
        page += 1
    api.clear_calls()
    return ids[:rows]


def search_calls(api):
    return [call for call in api.calls if call.path.endswith("/search/advanced")]


class TestSearchList:
    def test_empty_list_invites_a_first_search(self, testapp):
        response = testapp.get("/")

        assert "No searches yet" in response.text

    def test_lists_saved_searches_with_link(self, testapp, api):
        url = run_search(testapp, q="python")

        response = testapp.get("/")

        assert "python" in response.text
        assert f'href="http://localhost{url}"' in response.text

    @pytest.mark.parametrize("sort", ["created", "site", "query", "rows", "refreshed"])
    def test_list_sorts_by_each_column(self, testapp, api, sort):
        run_search(testapp, q="python")
        run_search(testapp, q="java")

        response = testapp.get("/", params={"sort": sort, "order": "asc"})

        assert response.text.count('data-search-id="') >= 2

    def test_list_pages(self, testapp, api):
        for word in ("python", "java", "javascript"):
            run_search(testapp, q=word)

        first = testapp.get(
            "/", params={"pagesize": 25, "sort": "query", "order": "asc"}
        )

        assert first.text.index(">java<") < first.text.index(">python<")

    def test_list_rejects_unknown_sort(self, testapp):
        response = testapp.get("/", params={"sort": "title"}, status=400)

        assert "created, site, query, rows, refreshed" in response.text


class TestNewSearch:
    def test_form_offers_sites_from_the_api(self, testapp, api):
        response = testapp.get("/search")

        assert '<option value="beer"' in response.text
        assert 'name="tagged"' in response.text and 'name="fromdate"' in response.text

    def test_sites_are_fetched_once_and_stored(self, testapp, api):
        testapp.get("/search")
        testapp.get("/search")

        assert [c.path for c in api.calls].count("/2.3/sites") == 1

    def test_submit_saves_and_redirects_to_results(self, testapp, api):
        response = testapp.get(
            "/search", params={"site": "stackoverflow", "q": "python"}, status=303
        )

        assert re.search(r"/searches/\d+$", response.headers["Location"])
        assert search_calls(api) == []

    def test_same_search_is_reused(self, testapp, api):
        first = run_search(testapp, q="python  list", tagged="Pandas;python")
        second = run_search(testapp, q=" python list ", tagged="python pandas")

        assert first == second

    def test_different_filters_make_a_new_search(self, testapp, api):
        assert run_search(testapp, q="python") != run_search(
            testapp, q="python", accepted="true"
        )

    def test_chosen_page_size_is_carried_to_results(self, testapp, api):
        response = testapp.get(
            "/search",
            params={"site": "stackoverflow", "q": "python", "pagesize": 50},
            status=303,
        )

        assert response.headers["Location"].endswith("?pagesize=50")

    def test_site_can_be_given_as_host_name(self, testapp, api):
        url = run_search(testapp, site="beer.stackexchange.com", q="hops")

        assert "Search on beer" in testapp.get(url).text

    def test_site_missing_from_the_list_is_checked_with_the_search_itself(
        self, testapp, api
    ):
        api.fail("sites", "unavailable")

        url = run_search(testapp, site="beer", q="hops")
        response = testapp.get(url)

        assert [c.path for c in api.calls].count("/2.3/search/advanced") == 1
        assert len(row_ids(response)) == 22

    def test_form_works_while_the_site_list_is_unavailable(self, testapp, api):
        api.fail("sites", "unavailable")

        response = testapp.get("/search")

        assert "list of sites could not be fetched" in response.text
        assert 'name="site"' in response.text

    @pytest.mark.parametrize(
        "params, message",
        [
            ({"site": "nosuchsite", "q": "x"}, "is not a Stack Exchange site"),
            ({"site": "stackoverflow"}, "type some text"),
            (
                {"site": "stackoverflow", "q": "x", "fromdate": "yesterday"},
                "YYYY-MM-DD",
            ),
            (
                {
                    "site": "stackoverflow",
                    "q": "x",
                    "fromdate": "2020-02-01",
                    "todate": "2020-01-01",
                },
                "before the from date",
            ),
            ({"site": "stackoverflow", "q": "x", "answers": "-1"}, "whole number"),
            (
                {"site": "stackoverflow", "q": "x", "accepted": "maybe"},
                "yes, no or any",
            ),
            ({"site": "stackoverflow", "q": "x", "user": "abc"}, "numeric user id"),
            ({"site": "stackoverflow", "tagged": "a b c d e f"}, "at most 5 tags"),
            ({"site": "stackoverflow", "q": "x", "pagesize": "7"}, "25, 50, 100"),
        ],
    )
    def test_bad_input_is_a_400_that_says_why(self, testapp, api, params, message):
        response = testapp.get("/search", params=params, status=400)

        assert html.unescape(response.text).count(message) >= 1


class TestResults:
    def test_unknown_search_is_404(self, testapp, api):
        response = testapp.get("/searches/999999", status=404)

        assert "no saved search 999999" in response.text

    def test_non_numeric_search_id_is_404(self, testapp):
        testapp.get("/searches/abc", status=404)

    @pytest.mark.parametrize("sort", SORTS)
    @pytest.mark.parametrize("order", ["desc", "asc"])
    def test_rows_follow_the_api_order_at_every_size(self, testapp, api, sort, order):
        url = run_search(testapp, q="python")
        expected = api_order(api, "stackoverflow", {"q": "python"}, sort, order, 1000)

        for pagesize in (25, 50, 100):
            shown, page = [], 1
            while True:
                params = {
                    "sort": sort,
                    "order": order,
                    "page": page,
                    "pagesize": pagesize,
                }
                response = testapp.get(url, params=params, status=(200, 404))
                if response.status_int == 404:
                    break
                shown += row_ids(response)
                page += 1
            assert shown == expected, (sort, order, pagesize)
        # Three API pages, the last one partial, then the end.
        assert 200 < len(expected) < 300

    def test_four_pages_of_25_cost_one_api_call(self, testapp, api):
        url = run_search(testapp, q="python")

        for page in range(1, 5):
            testapp.get(url, params={"page": page, "pagesize": 25})

        assert len(search_calls(api)) == 1
        assert search_calls(api)[0].params["pagesize"] == "100"

    def test_page_size_change_reads_the_database(self, testapp, api):
        url = run_search(testapp, q="python")
        testapp.get(url, params={"pagesize": 25})

        testapp.get(url, params={"pagesize": 100})
        testapp.get(url, params={"pagesize": 50, "page": 2})

        assert len(search_calls(api)) == 1

    def test_sort_change_asks_the_api_once_then_reads_the_database(self, testapp, api):
        url = run_search(testapp, q="python")
        testapp.get(url)

        testapp.get(url, params={"sort": "votes"})
        testapp.get(url, params={"sort": "votes", "page": 2})
        testapp.get(url)

        assert [c.params["sort"] for c in search_calls(api)] == ["activity", "votes"]

    def test_jump_to_a_far_page_fetches_only_that_api_page(self, testapp, api):
        url = run_search(testapp, q="python")

        response = testapp.get(
            url,
            params={"page": 5, "pagesize": 25, "sort": "creation"},
            status=(200, 404),
        )

        assert [c.params["page"] for c in search_calls(api)] == ["2"]
        assert response.status_int == 404 or row_ids(response)

    def test_page_past_the_end_is_404(self, testapp, api):
        url = run_search(testapp, site="conlang.meta", q="conlang")
        testapp.get(url, params={"pagesize": 100})

        response = testapp.get(url, params={"pagesize": 100, "page": 9}, status=404)

        assert "past its last page" in response.text

    def test_search_with_no_results_shows_an_empty_page(self, testapp, api):
        url = run_search(testapp, q="zzzxqqnothingmatches")

        response = testapp.get(url)

        assert "No questions match this search" in response.text
        assert row_ids(response) == []

    def test_entity_encoded_titles_are_shown_decoded_once(self, testapp, api):
        url = run_search(testapp, q="RSpec deprecation")

        response = testapp.get(url)

        assert "&amp;quot;" not in response.text and "&amp;#39;" not in response.text
        assert "undefined method 'allow'" in html.unescape(response.text)

    def test_page_shows_the_quota_left(self, testapp, api):
        url = run_search(testapp, q="python")

        response = testapp.get(url)

        assert "quota left today: 298 of 300" in response.text

    def test_row_shows_the_columns(self, testapp, api):
        url = run_search(testapp, q="RSpec deprecation")

        text = html.unescape(testapp.get(url).text)

        assert 'href="http://stackoverflow.com/questions/31622385/' in text
        assert "Grant Birchmeier" in text and "rspec3" in text and "2015-07-25" in text

    @pytest.mark.parametrize(
        "params, allowed",
        [
            ({"page": "0"}, "from 1 to"),
            ({"page": "-1"}, "from 1 to"),
            ({"page": "abc"}, "from 1 to"),
            ({"page": "1e9"}, "from 1 to"),
            ({"page": "9" * 400}, "from 1 to"),
            ({"pagesize": "7"}, "25, 50, 100"),
            ({"pagesize": "100000"}, "25, 50, 100"),
            ({"sort": "hot"}, "activity, creation, votes, relevance"),
            ({"order": "up"}, "asc or desc"),
        ],
    )
    def test_bad_browse_parameters_are_400_naming_allowed_values(
        self, testapp, api, params, allowed
    ):
        url = run_search(testapp, q="python")

        response = testapp.get(url, params=params, status=400)

        assert allowed in html.unescape(response.text)
        assert search_calls(api) == []

    def test_repeated_parameter_is_400(self, testapp, api):
        url = run_search(testapp, q="python")

        response = testapp.get(url + "?pagesize=25&pagesize=50", status=400)

        assert "more than once" in response.text


class TestAPIFailures:
    """The API fails: a page that says so, with what is stored, never a 500."""

    @pytest.mark.parametrize(
        "kind, message",
        [
            ("throttle", "too many requests"),
            ("throttle_plain", "too many requests"),
            ("unavailable", "temporarily unavailable"),
            ("internal", "internal_error"),
            ("close", "could not be reached"),
            ("truncated", "damaged compressed body"),
            ("html", "not JSON"),
            ("uncompressed_error", "internal_error"),
        ],
    )
    def test_failure_on_first_page_explains(self, testapp, api, kind, message):
        url = run_search(testapp, q="python")
        api.fail("search/advanced", kind)

        response = testapp.get(url)

        assert message in response.text
        assert "Retry-After" in response.headers
        assert response.headers["Cache-Control"] == "no-store"

    def test_failure_without_a_stated_wait_promises_none(self, testapp, api):
        url = run_search(testapp, q="python")
        api.fail("search/advanced", "unavailable")

        response = testapp.get(url)

        assert "Try again in a moment." in response.text
        assert response.headers["Retry-After"] == "30"

    def test_stored_rows_still_show_when_the_api_fails(self, testapp, api):
        url = run_search(testapp, q="python")
        stored = row_ids(testapp.get(url, params={"pagesize": 100}))
        api.fail("search/advanced", "unavailable")

        response = testapp.get(url, params={"pagesize": 100, "sort": "votes"})
        again = testapp.get(url, params={"pagesize": 100})

        assert "temporarily unavailable" in response.text
        assert row_ids(again) == stored

    def test_quota_at_zero_explains_and_blocks_the_method(self, testapp, api):
        url = run_search(testapp, q="python")
        api.set_quota(0)

        first = testapp.get(url)
        second = testapp.get(url, params={"sort": "votes"})

        assert "too many requests" in first.text
        assert "asked StackWatch to slow down" in second.text
        assert len(search_calls(api)) == 1

    def test_slow_api_within_the_timeout_still_gives_the_rows(self, testapp, api):
        url = run_search(testapp, q="python")
        api.fail("search/advanced", "slow", seconds=1)

        response = testapp.get(url)

        assert len(row_ids(response)) == 25 and "warning" not in response.text

    def test_has_more_with_no_items_is_reported_and_nothing_stored(self, testapp, api):
        url = run_search(testapp, q="python")
        api.fail("search/advanced", "empty_has_more")

        response = testapp.get(url)
        again = testapp.get(url)

        assert "said more results follow but sent none" in response.text
        assert response.headers["Cache-Control"] == "no-store"
        assert len(row_ids(again)) == 25

    def test_slow_api_gives_up_with_a_message(self, testapp, api):
        url = run_search(testapp, q="python")
        api.fail("search/advanced", "hang", seconds=10)

        response = testapp.get(url)

        assert "did not answer in time" in response.text

    def test_backoff_holds_the_method_and_says_when(self, testapp, api):
        url = run_search(testapp, q="python")
        api.set_backoff("search/advanced", 30)
        testapp.get(url)

        response = testapp.get(url, params={"sort": "votes"})

        assert "asked StackWatch to slow down" in response.text
        assert len(search_calls(api)) == 1
        assert 25 <= int(response.headers["Retry-After"]) <= 30

    def test_page_26_without_key_is_explained_without_a_call(self, testapp, api):
        url = run_search(testapp, q="the")

        response = testapp.get(url, params={"page": 26, "pagesize": 100})

        assert search_calls(api) == []
        assert "first 2,500 results" in response.text


def test_jumping_past_the_end_invents_no_total(testapp, api):
    url = run_search(testapp, q="python")

    far = testapp.get(url, params={"page": 20, "pagesize": 100}, status=404)
    second = testapp.get(url, params={"page": 2, "pagesize": 100})
    last = testapp.get(url, params={"page": 3, "pagesize": 100})
    after = testapp.get(url, params={"page": 2, "pagesize": 100})

    assert "past the end" in far.text and "results:" not in far.text
    assert 'rel="last"' not in second.text
    assert len(row_ids(last)) == 41
    assert 'rel="last"' in after.text and "of 3" in after.text


def test_list_page_past_the_end_is_404(testapp, api):
    run_search(testapp, q="python")

    response = testapp.get("/", params={"page": 2}, status=404)

    assert "Page 2 is past the last page of saved searches, 1." in response.text


def test_a_site_added_while_the_list_was_down_does_not_refetch_the_list(testapp, api):
    # With the API down the name is taken on trust; the list never has it.
    api.fail("*", "unavailable", times=2)
    run_search(testapp, site="nosuchsite", q="hops")
    testapp.get("/search")

    testapp.get("/search")
    testapp.get("/search")

    assert [c.path for c in api.calls].count("/2.3/sites") == 2
