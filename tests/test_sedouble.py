"""The Stack Exchange test double, checked over real loopback sockets."""

import gzip
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from tests.sedouble import SEDouble, call_control

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_SITES = (
    "stackoverflow",
    "beer",
    "bicycles.meta",
    "matheducators",
    "datascience.meta",
    "conlang.meta",
)
SORT_FIELDS = {
    "activity": "last_activity_date",
    "creation": "creation_date",
    "votes": "score",
}


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    raw: bytes

    @property
    def body(self) -> bytes:
        encoding = self.headers.get("Content-Encoding")
        if encoding == "gzip":
            return gzip.decompress(self.raw)
        if encoding == "deflate":
            return zlib.decompress(self.raw)
        return self.raw

    @property
    def json(self):
        return json.loads(self.body)


@pytest.fixture(scope="module")
def double():
    with SEDouble() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(double):
    double.reset()


def get(double, method, accept_encoding="gzip, deflate", timeout=5, **params):
    """GET an API method; ``accept_encoding=None`` sends no such header."""
    address = urlsplit(double.url)
    connection = http.client.HTTPConnection(
        address.hostname, address.port, timeout=timeout
    )
    try:
        path = f"{address.path}/{method}?{urlencode(params)}"
        connection.putrequest("GET", path, skip_accept_encoding=True)
        if accept_encoding is not None:
            connection.putheader("Accept-Encoding", accept_encoding)
        connection.endheaders()
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        connection.close()


def ids(response):
    return [item["question_id"] for item in response.json["items"]]


class TestWire:
    def test_gzip_when_asked(self, double):
        response = get(double, "search/advanced", site="beer")

        assert response.status == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        assert response.raw[:2] == b"\x1f\x8b"

    def test_gzip_without_accept_encoding(self, double):
        response = get(double, "search/advanced", accept_encoding=None, site="beer")

        assert response.headers["Content-Encoding"] == "gzip"
        assert response.json["items"]

    def test_deflate_when_only_deflate_is_accepted(self, double):
        response = get(double, "sites", accept_encoding="deflate")

        assert response.headers["Content-Encoding"] == "deflate"
        assert response.json["items"]

    def test_wrapper_fields_in_api_order(self, double):
        response = get(double, "search/advanced", site="stackoverflow")

        assert list(response.json) == [
            "items",
            "has_more",
            "quota_max",
            "quota_remaining",
        ]

    def test_items_hide_bookkeeping_fields_and_body(self, double):
        items = get(double, "search/advanced", site="beer").json["items"]

        assert all({"site", "_kind", "_sources", "body"}.isdisjoint(i) for i in items)
        assert all({"question_id", "link", "owner", "title"} <= set(i) for i in items)

    def test_withbody_adds_the_body(self, double):
        response = get(double, "questions/1", site="beer", filter="withbody")

        assert response.json["items"][0]["body"].startswith("<p>I was offered")

    def test_total_and_none_filters(self, double):
        total = get(double, "search/advanced", site="stackoverflow", filter="total")
        none = get(double, "search/advanced", site="stackoverflow", filter="none")

        assert total.json == {"total": 791}
        assert none.json == {}

    def test_titles_stay_entity_encoded(self, double):
        response = get(double, "questions/231767", site="stackoverflow")

        title = response.json["items"][0]["title"]
        assert title == "What does the &quot;yield&quot; keyword do?"

    def test_site_may_be_given_as_host(self, double):
        by_name = get(double, "search/advanced", site="beer", pagesize=5)
        by_host = get(double, "search/advanced", site="beer.stackexchange.com")

        assert ids(by_name) == ids(by_host)[:5]

    @pytest.mark.parametrize(
        "method, params, error_id, name, message",
        [
            ("nope", {"site": "beer"}, 404, "no_method", None),
            ("questions/1,2", {"site": "beer"}, 404, "no_method", None),
            ("search/advanced", {}, 400, "bad_parameter", "site is required"),
            ("search/advanced", {"site": "mars"}, 400, "bad_parameter", None),
            ("search/advanced", {"site": "beer", "sort": "hot"}, 400, None, "sort"),
            ("search/advanced", {"site": "beer", "closed": "y"}, 400, None, "closed"),
        ],
    )
    def test_errors_come_under_http_400(
        self, double, method, params, error_id, name, message
    ):
        response = get(double, method, **params)

        assert response.status == 400
        assert response.headers["Content-Encoding"] == "gzip"
        assert list(response.json) == ["error_id", "error_message", "error_name"]
        assert response.json["error_id"] == error_id
        assert name is None or response.json["error_name"] == name
        assert message is None or response.json["error_message"] == message


class TestSearchAdvanced:
    def test_every_q_word_must_match(self, double):
        both = get(double, "search/advanced", site="stackoverflow", q="pandas Python")
        one = get(double, "search/advanced", site="stackoverflow", q="pandas")

        assert 0 < len(both.json["items"]) <= len(one.json["items"])
        assert set(ids(both)) <= set(ids(one))

    @pytest.mark.parametrize("sort", ["activity", "creation", "votes"])
    @pytest.mark.parametrize("order", ["desc", "asc"])
    def test_sorts_with_question_id_tie_break(self, double, sort, order):
        params = dict(site="beer", sort=sort, order=order, pagesize=100)

        items = get(double, "search/advanced", **params).json["items"]

        keys = [(item[SORT_FIELDS[sort]], item["question_id"]) for item in items]
        assert keys == sorted(keys, reverse=order == "desc")
        assert items == get(double, "search/advanced", **params).json["items"]

    def test_votes_ties_break_by_id_in_sort_direction(self, double):
        params = dict(site="beer", sort="votes", max=0)

        desc = get(double, "search/advanced", **params)
        asc = get(double, "search/advanced", min=0, order="asc", **params)

        zero_desc = [i["question_id"] for i in desc.json["items"] if i["score"] == 0]
        zero_asc = [i["question_id"] for i in asc.json["items"]]
        assert zero_desc == sorted(zero_desc, reverse=True)
        assert zero_asc == sorted(zero_asc)

    def test_relevance_puts_title_matches_first(self, double):
        response = get(
            double, "search/advanced", site="beer", q="citra hops", sort="relevance"
        )

        assert ids(response)[0] == 1

    def test_tagged_is_or_and_nottagged_excludes(self, double):
        params = dict(site="beer", pagesize=100)
        either = get(double, "search/advanced", tagged="ipa;stout", **params).json
        no_ipa = get(
            double, "search/advanced", tagged="ipa;stout", nottagged="ipa", **params
        ).json

        assert all({"ipa", "stout"} & set(item["tags"]) for item in either["items"])
        assert any("ipa" in item["tags"] for item in either["items"])
        assert any("stout" in item["tags"] for item in either["items"])
        assert no_ipa["items"] and all("ipa" not in i["tags"] for i in no_ipa["items"])

    def test_structured_criteria(self, double):
        response = get(
            double,
            "search/advanced",
            site="stackoverflow",
            accepted="true",
            closed="false",
            answers=2,
            views=1000,
            pagesize=100,
        )

        items = response.json["items"]
        assert items
        for item in items:
            assert "accepted_answer_id" in item and "closed_date" not in item
            assert item["answer_count"] >= 2 and item["view_count"] >= 1000

    def test_user_matches_owner_id(self, double):
        items = get(double, "search/advanced", site="beer", user=7).json["items"]

        assert items and all(item["owner"]["user_id"] == 7 for item in items)

    def test_title_matches_decoded_title(self, double):
        response = get(double, "search/advanced", site="stackoverflow", title='"yield"')

        assert ids(response) == [231767]

    def test_body_matches_body_text(self, double):
        response = get(double, "search/advanced", site="beer", body="citra hops")

        assert 1 in ids(response)

    def test_dates_bound_creation_date(self, double):
        response = get(
            double,
            "search/advanced",
            site="beer",
            fromdate="2014-01-21",
            todate=1390336100,
        )

        assert sorted(ids(response)) == [1, 2]


class TestPaging:
    def test_pages_tile_the_results(self, double):
        def search(page):
            return get(
                double,
                "search/advanced",
                site="stackoverflow",
                q="python",
                pagesize=100,
                page=page,
            ).json

        pages = [search(page=n) for n in (1, 2, 3)]

        assert [len(p["items"]) for p in pages] == [100, 100, 41]
        assert [p["has_more"] for p in pages] == [True, True, False]
        all_ids = [item["question_id"] for page in pages for item in page["items"]]
        assert len(set(all_ids)) == 241

    def test_pagesize_above_100_is_bad_parameter(self, double):
        response = get(double, "search/advanced", site="beer", pagesize=101)

        assert response.json["error_name"] == "bad_parameter"
        assert response.json["error_message"] == "pagesize"

    def test_page_above_25_needs_a_key(self, double):
        anonymous = get(double, "search/advanced", site="beer", page=26)
        keyed = get(double, "search/advanced", site="beer", page=26, key="k")

        assert anonymous.status == 400
        assert anonymous.json == {
            "error_id": 403,
            "error_message": "page above 25 requires access token or app key",
            "error_name": "access_denied",
        }
        assert keyed.json["items"] == [] and keyed.json["has_more"] is False


class TestOtherMethods:
    def test_search_needs_tagged_or_intitle(self, double):
        bare = get(double, "search", site="beer")
        titled = get(double, "search", site="beer", intitle="HOPS")

        assert bare.json["error_name"] == "bad_parameter"
        assert titled.json["items"]
        assert all("hops" in item["title"].lower() for item in titled.json["items"])

    def test_questions_by_ids_returns_those_that_exist(self, double):
        response = get(double, "questions/3;1;2;999999", site="beer", sort="creation")

        assert ids(response) == [3, 2, 1]

    def test_more_than_100_ids_is_bad_parameter(self, double):
        vector = ";".join(str(n) for n in range(1, 102))

        response = get(double, f"questions/{vector}", site="beer")

        assert response.json["error_message"] == "ids"

    def test_sites_pages_and_lists_every_corpus_site(self, double):
        first = get(double, "sites").json
        everything = get(double, "sites", pagesize=500).json

        assert len(first["items"]) == 30 and first["has_more"] is True
        names = {site["api_site_parameter"] for site in everything["items"]}
        assert set(CORPUS_SITES) <= names

    def test_similar_needs_title(self, double):
        missing = get(double, "similar", site="beer")
        found = get(double, "similar", site="beer", title="citra hop", sort="relevance")

        assert missing.json["error_message"] == "title"
        assert ids(found)[0] == 1


class TestQuota:
    def test_each_call_counts_per_key(self, double):
        first = get(double, "sites").json
        second = get(double, "sites").json
        keyed = get(double, "sites", key="abc").json

        assert (first["quota_max"], first["quota_remaining"]) == (300, 299)
        assert second["quota_remaining"] == 298
        assert (keyed["quota_max"], keyed["quota_remaining"]) == (10000, 9999)

    def test_exhausted_quota_is_throttle_violation(self, double):
        double.set_quota(1)

        last = get(double, "sites")
        refused = get(double, "sites")
        keyed = get(double, "sites", key="abc")

        assert last.json["quota_remaining"] == 0
        assert refused.status == 400
        assert refused.json["error_id"] == 502
        assert refused.json["error_name"] == "throttle_violation"
        assert refused.json["error_message"].startswith(
            "too many requests from this IP, more requests available in "
        )
        assert keyed.status == 200


class TestBackoff:
    def test_backoff_is_carried_once_then_enforced(self, double):
        double.set_backoff("search/advanced", 1)

        carried = get(double, "search/advanced", site="beer").json
        early = get(double, "search/advanced", site="beer").json
        other_method = get(double, "sites").json
        time.sleep(1.05)
        later = get(double, "search/advanced", site="beer").json

        assert carried["backoff"] == 1
        assert list(carried)[-1] == "backoff"
        assert early == {
            "error_id": 502,
            "error_message": "Violation of backoff parameter",
            "error_name": "throttle_violation",
        }
        assert "backoff" not in other_method and "items" in other_method
        assert "backoff" not in later and "items" in later


class TestFaults:
    @pytest.mark.parametrize(
        "kind, error_id, name, message",
        [
            ("throttle", 502, "throttle_violation", "more requests available in 7 "),
            ("throttle_plain", 502, "throttle_violation", "too many requests"),
            ("unavailable", 503, "temporarily_unavailable", ""),
            ("internal", 500, "internal_error", ""),
        ],
    )
    def test_error_faults(self, double, kind, error_id, name, message):
        double.fail("search/advanced", kind, seconds=7)

        failed = get(double, "search/advanced", site="beer")
        after = get(double, "search/advanced", site="beer")

        assert failed.status == 400
        assert (failed.json["error_id"], failed.json["error_name"]) == (error_id, name)
        assert message in failed.json["error_message"]
        if kind == "throttle_plain":
            assert "available in" not in failed.json["error_message"]
        assert after.status == 200

    def test_fault_only_hits_its_method_and_times(self, double):
        double.fail("search/advanced", "internal", times=2)

        other = get(double, "sites")
        hits = [get(double, "search/advanced", site="beer") for _ in range(3)]

        assert other.status == 200 and "items" in other.json
        assert ["error_id" in hit.json for hit in hits] == [True, True, False]

    def test_star_hits_any_method(self, double):
        double.fail("*", "internal")

        assert get(double, "sites").json["error_name"] == "internal_error"

    def test_hang_gives_no_answer(self, double):
        double.fail("search/advanced", "hang", seconds=1)

        with pytest.raises((socket.timeout, TimeoutError)):
            get(double, "search/advanced", site="beer", timeout=0.3)

    def test_slow_answers_late(self, double):
        double.fail("search/advanced", "slow", seconds=0.3)

        started = time.monotonic()
        response = get(double, "search/advanced", site="beer")

        assert time.monotonic() - started >= 0.3
        assert response.json["items"]

    def test_close_drops_the_connection(self, double):
        double.fail("search/advanced", "close")

        with pytest.raises(http.client.RemoteDisconnected):
            get(double, "search/advanced", site="beer")

    def test_truncated_gzip_body(self, double):
        double.fail("search/advanced", "truncated")

        response = get(double, "search/advanced", site="beer")

        assert response.headers["Content-Encoding"] == "gzip"
        with pytest.raises(EOFError):
            gzip.decompress(response.raw)

    @pytest.mark.parametrize("status", [None, 200])
    def test_html_page_instead_of_json(self, double, status):
        double.fail("search/advanced", "html", status=status)

        response = get(double, "search/advanced", site="beer")

        assert response.status == (status or 503)
        assert response.headers["Content-Type"].startswith("text/html")
        assert "Content-Encoding" not in response.headers
        assert response.raw.startswith(b"<!DOCTYPE html>")

    def test_empty_page_with_has_more(self, double):
        double.fail("search/advanced", "empty_has_more")

        body = get(double, "search/advanced", site="beer").json

        assert body["items"] == [] and body["has_more"] is True
        assert body["quota_remaining"] == 299

    def test_uncompressed_error(self, double):
        double.fail("search/advanced", "uncompressed_error")

        response = get(double, "search/advanced", site="beer")

        assert response.status == 400
        assert "Content-Encoding" not in response.headers
        assert json.loads(response.raw)["error_name"] == "internal_error"

    def test_unknown_kind_is_refused(self, double):
        with pytest.raises(ValueError):
            double.fail("search/advanced", "explode")


class TestDataControl:
    def test_set_question_changes_appear(self, double):
        double.set_question("beer", 1, score=9999, title="Citra &amp; friends")

        top = get(double, "search/advanced", site="beer", sort="votes").json["items"]

        assert (top[0]["question_id"], top[0]["score"]) == (1, 9999)
        assert top[0]["title"] == "Citra &amp; friends"
        titled = get(double, "search/advanced", site="beer", title="& friends")
        assert ids(titled) == [1]

    def test_set_question_keeps_api_field_order(self, double):
        question = double.set_question("beer", 2, closed_date=1400000000)

        fields = list(question)
        assert fields.index("view_count") < fields.index("closed_date")
        assert fields.index("closed_date") < fields.index("accepted_answer_id")

    def test_hide_and_reveal(self, double):
        double.hide_question("beer", 1)
        hidden = get(double, "questions/1;2", site="beer")
        double.reveal_question("beer", 1)
        revealed = get(double, "questions/1;2", site="beer")

        assert ids(hidden) == [2]
        assert sorted(ids(revealed)) == [1, 2]

    def test_remove_until_reset(self, double):
        double.remove_question("beer", 1)
        removed = get(double, "questions/1", site="beer")
        double.reset()

        assert ids(removed) == []
        assert ids(get(double, "questions/1", site="beer")) == [1]

    def test_add_question(self, double):
        double.add_question(
            "beer", {"question_id": 99001, "title": "Brand new", "tags": ["new"]}
        )

        response = get(double, "search/advanced", site="beer", tagged="new")

        assert ids(response) == [99001]
        assert response.json["items"][0]["link"].endswith("/questions/99001")

    def test_calls_are_recorded(self, double):
        get(double, "search/advanced", site="beer", q="hops")

        (call,) = double.calls
        assert call.method == "search/advanced"
        assert call.params == {"site": "beer", "q": "hops"}
        assert call.headers["Accept-Encoding"] == "gzip, deflate"

    def test_only_loopback_hosts(self):
        with pytest.raises(ValueError):
            SEDouble(host="0.0.0.0")


class TestHTTPControl:
    def test_fail_over_http(self, double):
        answer = call_control(double.url, "fail", method="search", kind="unavailable")

        response = get(double, "search", site="beer", tagged="ipa")

        assert answer == {"ok": True}
        assert response.json["error_name"] == "temporarily_unavailable"

    def test_set_question_over_http(self, double):
        answer = call_control(
            double.base_url, "set_question", site="beer", question_id=1, score=-5
        )

        assert answer["question"]["score"] == -5
        assert get(double, "questions/1", site="beer").json["items"][0]["score"] == -5

    def test_hide_and_quota_over_http(self, double):
        call_control(double.base_url, "hide_question", site="beer", question_id=1)
        call_control(double.base_url, "set_quota", remaining=5)

        response = get(double, "questions/1", site="beer").json

        assert response["items"] == [] and response["quota_remaining"] == 4

    def test_calls_over_http(self, double):
        get(double, "sites", pagesize=2)

        calls = call_control(double.base_url, "calls")["calls"]

        assert [(c["method"], c["params"]) for c in calls] == [
            ("sites", {"pagesize": "2"})
        ]

    def test_get_reads_and_errors(self, double):
        address = urlsplit(double.base_url)
        connection = http.client.HTTPConnection(address.hostname, address.port)

        connection.request("GET", "/__control/question?site=beer&question_id=1")
        found = connection.getresponse()
        found_body = json.loads(found.read())
        connection.request("POST", "/__control/fail", body=b'{"kind": "nope"}')
        bad = connection.getresponse()
        bad.read()
        unknown = b'{"site": "beer", "question_id": 999999}'
        connection.request("POST", "/__control/hide_question", body=unknown)
        missing = connection.getresponse()
        missing.read()
        connection.close()

        assert found.status == 200 and found_body["question"]["question_id"] == 1
        assert bad.status == 400
        assert missing.status == 404


def test_command_line_serves_until_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sedouble", "--port", "0"],
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        line = process.stderr.readline()
        url = line.split()[-1]
        address = urlsplit(url)
        connection = http.client.HTTPConnection(address.hostname, address.port)
        connection.request("GET", "/2.3/sites?pagesize=1")
        status = connection.getresponse().status
        connection.close()

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.stderr.close()

    assert url.startswith("http://127.0.0.1:") and url.endswith("/2.3")
    assert status == 200
