"""Hostile and malformed input: a 4xx that says what was wrong, or a correct page.

Never a 5xx, never a traceback.
"""

import html
from urllib.parse import quote

import pytest

from tests.factories import run_search

TRACEBACK_MARKERS = ("Traceback", 'File "', "sqlalchemy", "Error at 0x")


@pytest.fixture
def search_url(testapp, api):
    return run_search(testapp, q="python")


# (path and query, expected status, text the page must contain)
CASES = [
    ("/?page=-1", 400, "page: must be a whole number"),
    ("/?page=0", 400, "page: must be a whole number"),
    ("/?page=abc", 400, "page: must be a whole number"),
    ("/?page=1e9", 400, "page: must be a whole number"),
    ("/?page=" + "9" * 400, 400, "page: must be a whole number"),
    ("/?page=1000001", 400, "page: must be a whole number"),
    ("/?pagesize=7", 400, "pagesize: must be one of 25, 50, 100"),
    ("/?pagesize=-25", 400, "pagesize: must be one of"),
    ("/?pagesize=100000", 400, "pagesize: must be one of"),
    ("/?pagesize=25&pagesize=50", 400, "given more than once"),
    ("/?sort=votes", 400, "sort: must be one of created"),
    ("/?order=sideways", 400, "order: must be asc or desc"),
    ("/?sort=created%3BDROP%20TABLE%20searches", 400, "sort: must be one of"),
    ("/?page=1%20OR%201%3D1", 400, "page: must be a whole number"),
    ("/?page=%ff%fe", 400, "not UTF-8"),
    ("/?order=%00", 400, "order: must be asc or desc"),
    ("/searches/abc", 404, "not the number of a saved search"),
    ("/searches/-1", 404, "not the number of a saved search"),
    ("/searches/1.5", 404, "not the number of a saved search"),
    ("/searches/99999999999999999999", 404, "not the number of a saved search"),
    ("/searches/424242", 404, "no saved search 424242"),
    ("/searches/1%27%20OR%20%271%27%3D%271", 404, "not the number of a saved search"),
    ("/searches/%ff", 400, "not UTF-8"),
    ("/search?site=nosuch&q=x", 400, "is not a Stack Exchange site"),
    ("/search?site=..%2F..%2Fetc&q=x", 400, "site"),
    ("/search?site=stackoverflow&q=" + "x" * 20000, 400, "longer than 500 characters"),
    ("/search?site=stackoverflow&q=a%00b", 400, "control or text-direction"),
    ("/search?site=stackoverflow&q=%c3%28", 400, "not UTF-8"),
    (
        "/search?site=stackoverflow&tagged="
        + quote(";".join(f"t{i}" for i in range(200))),
        400,
        "at most 5 tags",
    ),
    ("/search?site=stackoverflow&q=x&fromdate=not-a-date", 400, "YYYY-MM-DD"),
    ("/search?site=stackoverflow&q=x&fromdate=2999-01-01", 400, "is in the future"),
    (
        "/search?site=stackoverflow&q=x&fromdate=2021-05-01&todate=2020-05-01",
        400,
        "before the from date",
    ),
    ("/search?site=stackoverflow&q=x&views=lots", 400, "whole number"),
    ("/search?site=stackoverflow&q=x&closed=perhaps", 400, "yes, no or any"),
    ("/search?site=stackoverflow&q=x&pagesize=0", 400, "pagesize"),
    ("/search?site=stackoverflow&q=x&q=y", 400, "given more than once"),
    ("/nowhere", 404, "no page at this address"),
    ("/static/../production.ini", 404, "no page at this address"),
]


@pytest.mark.parametrize("path, status, message", CASES, ids=[c[0][:50] for c in CASES])
def test_bad_input_gets_a_clear_4xx(testapp, search_url, path, status, message):
    response = testapp.get(path, status="*", expect_errors=True)

    text = html.unescape(response.text)
    assert response.status_int == status
    assert message in text
    assert not any(marker in text for marker in TRACEBACK_MARKERS)


@pytest.mark.parametrize(
    "params",
    [
        {"page": "-1"},
        {"page": "1e9"},
        {"pagesize": "7"},
        {"sort": "score"},
        {"order": "ASC"},
        {"sort": "votes'; DELETE FROM questions; --"},
    ],
)
def test_bad_results_parameters_are_400_without_api_calls(
    testapp, api, search_url, params
):
    response = testapp.get(search_url, params=params, status=400)

    assert "must be" in response.text
    assert [c for c in api.calls if "search/advanced" in c.path] == []


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch", "options"])
@pytest.mark.parametrize("path", ["/", "/search", "/searches/1"])
def test_writes_on_read_only_routes_are_405(testapp, path, method):
    response = getattr(testapp, method)(path, status=405)

    assert response.headers["Allow"] == "GET, HEAD"
    assert "read-only" in response.text


@pytest.mark.parametrize("path", ["/", "/search", "/nowhere"])
def test_head_requests_answer_without_a_body(testapp, api, path):
    response = testapp.head(path, status="*")

    assert response.status_int in (200, 404)
    assert response.body == b""


def test_sql_in_the_query_is_stored_and_shown_as_text(testapp, api):
    url = run_search(testapp, q="x' OR '1'='1; DROP TABLE searches; --")

    testapp.get(url)
    listing = testapp.get("/")

    assert "x&#39; OR &#39;1&#39;=&#39;1; DROP TABLE searches; --" in listing.text


@pytest.mark.parametrize(
    "query",
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "javascript:alert(1)",
        "</title><script>x</script>",
    ],
)
def test_crafted_queries_come_back_escaped_on_every_page(testapp, api, query):
    url = run_search(testapp, q=query)

    pages = [
        testapp.get(url),
        testapp.get("/"),
        testapp.get("/search", params={"site": "x!", "q": query}, status=400),
    ]

    for page in pages:
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "<script>x</script>" not in page.text
    assert query in html.unescape(pages[0].text)


def test_non_ascii_queries_round_trip(testapp, api):
    url = run_search(testapp, q="エラー ünïcödé")

    assert "エラー ünïcödé" in testapp.get(url).text


class TestSecurityHeaders:
    @pytest.mark.parametrize(
        "path, status",
        [
            ("/", 200),
            ("/search", 200),
            ("/nowhere", 404),
            ("/?page=0", 400),
            ("/static/style.css", 200),
        ],
    )
    def test_every_response_carries_the_headers(self, testapp, api, path, status):
        response = testapp.get(path, status=status)

        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"

    def test_pages_have_no_inline_script(self, testapp, api, search_url):
        for path in ("/", "/search", search_url):
            text = testapp.get(path).text
            assert (
                "<script>" not in text
                and "onclick=" not in text
                and "style=" not in text
            )


@pytest.mark.parametrize(
    "path",
    [
        "/?page=%C2%B2",
        "/?pagesize=%C2%B2",
        "/?page=%E2%91%A0",
        "/?page=%EF%BC%92",
        "/searches/1?page=%C2%B2",
        "/searches/%C2%B2",
        "/searches/%E2%91%A0",
        "/search?site=stackoverflow&q=x&answers=%C2%B2",
        "/search?site=stackoverflow&q=x&views=%E2%91%A0",
        "/search?site=stackoverflow&q=x&user=%C2%B2",
        "/search?site=stackoverflow&q=x&pagesize=%C2%B2",
    ],
)
def test_unicode_digits_are_not_numbers(testapp, search_url, path):
    response = testapp.get(path, status="*", expect_errors=True)

    assert response.status_int in (400, 404)
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize(
    "query",
    ["a\u202eb", "a\u2066b", "a\x7fb", "a\x00b"],
    ids=["RLO", "LRI", "DEL", "NUL"],
)
def test_text_direction_and_control_characters_are_refused_and_not_echoed(
    testapp, api, query
):
    response = testapp.get(
        "/search", params={"site": "stackoverflow", "q": query}, status=400
    )

    assert "control or text-direction characters" in response.text
    assert query[1] not in response.text


def test_iso_week_dates_are_refused(testapp, api):
    params = {"site": "stackoverflow", "q": "x", "fromdate": "2015-W01-1"}

    response = testapp.get("/search", params=params, status=400)

    assert "YYYY-MM-DD" in response.text


def test_unknown_parameters_do_not_make_cache_entries(testapp, api, search_url):
    testapp.get(search_url)

    response = testapp.get(search_url, params={"foo": "x" * 20000})

    assert response.headers["X-Cache"] == "HIT"


class TestAPIKey:
    KEY = "SeKrItKeY42"

    @pytest.fixture
    def app_settings(self, app_settings):
        return dict(app_settings, **{"stackexchange.key": self.KEY})

    def test_key_is_sent_but_never_shown_or_logged(self, testapp, api, caplog):
        url = run_search(testapp, q="python")
        api.fail("search/advanced", "close")

        pages = [
            testapp.get(url),
            testapp.get(url, params={"sort": "votes"}),
            testapp.get("/"),
            testapp.get("/search"),
            testapp.get("/nowhere", status=404),
        ]

        assert any(call.params.get("key") == self.KEY for call in api.calls)
        assert "could not be reached" in pages[0].text
        assert all(self.KEY not in page.text for page in pages)
        assert self.KEY not in caplog.text
