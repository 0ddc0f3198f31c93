"""Unit tests of the Stack Exchange client, on a fake transport."""

import gzip
import json
import logging
import zlib

import pytest

from webapp.services import stackexchange as se

WRAPPER = {
    "items": [{"question_id": 1, "title": "a &amp; b"}],
    "has_more": True,
    "quota_max": 300,
    "quota_remaining": 297,
}


class FakeTransport:
    """Answers each call with the next canned (status, headers, body)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []

    def __call__(self, url, headers, connect_timeout, read_timeout, total_timeout):
        self.requests.append((url, headers))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def gzipped(payload, status=200, encoding="gzip"):
    body = gzip.compress(json.dumps(payload).encode())
    headers = {"content-encoding": encoding} if encoding else {}
    return status, headers, body


def make_client(*answers, **options):
    transport = FakeTransport(*answers)
    client = se.StackExchangeClient(
        "http://api.test/2.3", transport=transport, **options
    )
    return client, transport


class TestDecoding:
    def test_gzip_body_is_decoded(self):
        client, _ = make_client(gzipped(WRAPPER))

        response = client.get("search/advanced", {"site": "stackoverflow"})

        assert response.items == WRAPPER["items"]
        assert response.has_more is True
        assert response.quota_remaining == 297

    def test_gzip_without_content_encoding_is_sniffed(self):
        client, _ = make_client(gzipped(WRAPPER, encoding=None))

        response = client.get("search/advanced", {"site": "stackoverflow"})

        assert response.items[0]["question_id"] == 1

    def test_deflate_body_is_decoded(self):
        body = zlib.compress(json.dumps(WRAPPER).encode())
        client, _ = make_client((200, {"content-encoding": "deflate"}, body))

        assert client.get("sites", {}).quota_max == 300

    def test_raw_deflate_body_is_decoded(self):
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = compressor.compress(json.dumps(WRAPPER).encode()) + compressor.flush()
        client, _ = make_client((200, {"content-encoding": "deflate"}, body))

        assert client.get("sites", {}).has_more is True

    def test_plain_json_is_accepted(self):
        client, _ = make_client((200, {}, json.dumps(WRAPPER).encode()))

        assert client.get("sites", {}).items

    def test_truncated_gzip_is_an_upstream_error(self):
        status, headers, body = gzipped(WRAPPER)
        client, _ = make_client((status, headers, body[: len(body) // 2]))

        with pytest.raises(se.UpstreamError, match="damaged compressed body"):
            client.get("sites", {})

    def test_html_instead_of_json_is_an_upstream_error(self):
        client, _ = make_client(
            (503, {"content-type": "text/html"}, b"<html>down</html>")
        )

        with pytest.raises(se.UpstreamError, match="not JSON"):
            client.get("sites", {})

    def test_has_more_without_items_is_an_upstream_error(self):
        client, _ = make_client(gzipped(dict(WRAPPER, items=[], has_more=True)))

        with pytest.raises(se.UpstreamError, match="sent none"):
            client.get("search/advanced", {"site": "so"})

    def test_json_without_items_is_an_upstream_error(self):
        client, _ = make_client(gzipped({"oops": 1}))

        with pytest.raises(se.UpstreamError, match="without items"):
            client.get("sites", {})

    def test_request_asks_for_compression_and_100_items(self):
        client, transport = make_client(gzipped(WRAPPER))

        client.search_advanced("stackoverflow", {"q": "x"}, "votes", "desc", 2)

        url, headers = transport.requests[0]
        assert headers["Accept-Encoding"] == "gzip, deflate"
        assert "pagesize=100" in url and "page=2" in url and "sort=votes" in url


class TestErrors:
    @pytest.mark.parametrize(
        "error_id, name, error_class",
        [
            (400, "bad_parameter", se.BadParameterError),
            (403, "access_denied", se.AccessDeniedError),
            (404, "no_method", se.NoMethodError),
            (500, "internal_error", se.InternalAPIError),
            (502, "throttle_violation", se.ThrottleError),
            (503, "temporarily_unavailable", se.UnavailableError),
            (999, "something_new", se.APIError),
        ],
    )
    def test_error_objects_become_typed_errors(self, error_id, name, error_class):
        error = {"error_id": error_id, "error_name": name, "error_message": "msg"}
        client, _ = make_client(gzipped(error, status=400))

        with pytest.raises(error_class) as caught:
            client.get("search/advanced", {"site": "stackoverflow"})

        assert caught.value.error_id == error_id
        assert caught.value.error_name == name

    def test_uncompressed_error_body_is_read(self):
        error = {
            "error_id": 503,
            "error_name": "temporarily_unavailable",
            "error_message": "x",
        }
        client, _ = make_client((400, {}, json.dumps(error).encode()))

        with pytest.raises(se.UnavailableError):
            client.get("sites", {})

    def test_throttle_with_time_blocks_the_method(self):
        message = (
            "too many requests from this IP, more requests available in 120 seconds"
        )
        error = {
            "error_id": 502,
            "error_name": "throttle_violation",
            "error_message": message,
        }
        client, transport = make_client(gzipped(error, status=400))

        with pytest.raises(se.ThrottleError) as caught:
            client.get("search/advanced", {"site": "so"})
        with pytest.raises(se.BackoffError):
            client.get("search/advanced", {"site": "so"})

        assert caught.value.retry_after == 120
        assert len(transport.requests) == 1

    def test_transport_failure_is_an_upstream_error(self):
        client, _ = make_client(ConnectionRefusedError("refused"))

        with pytest.raises(se.UpstreamError, match="ConnectionRefusedError"):
            client.get("sites", {})

    def test_timeout_is_an_api_timeout(self):
        client, _ = make_client(TimeoutError("slow"))

        with pytest.raises(se.APITimeoutError):
            client.get("sites", {})


class TestBackoff:
    def test_backoff_is_recorded_per_method(self):
        client, transport = make_client(
            gzipped(dict(WRAPPER, backoff=30)), gzipped(WRAPPER)
        )

        client.get("search/advanced", {"site": "so"})
        with pytest.raises(se.BackoffError) as caught:
            client.get("search/advanced", {"site": "so"})
        client.get("sites", {})

        assert 28 <= caught.value.retry_after <= 30
        assert len(transport.requests) == 2

    def test_short_backoff_is_waited_for(self):
        slept = []
        client, transport = make_client(
            gzipped(dict(WRAPPER, backoff=1)),
            gzipped(WRAPPER),
            max_wait=5,
            sleep=slept.append,
        )

        client.get("search/advanced", {"site": "so"})
        client.get("search/advanced", {"site": "so"})

        assert len(slept) == 1 and 0 < slept[0] <= 1
        assert len(transport.requests) == 2

    def test_backoff_is_shared_through_the_state(self):
        state = se.MemoryState()
        first, _ = make_client(gzipped(dict(WRAPPER, backoff=60)), state=state)
        second, transport = make_client(gzipped(WRAPPER), state=state)

        first.get("questions/1;2", {"site": "so"})

        with pytest.raises(se.BackoffError):
            second.get("questions/3", {"site": "so"})
        assert transport.requests == []

    def test_backoff_is_logged_once_as_a_warning(self, caplog):
        client, _ = make_client(gzipped(dict(WRAPPER, backoff=5)))

        with caplog.at_level(logging.WARNING):
            client.get("search/advanced", {"site": "so"})

        assert [r.levelname for r in caplog.records] == ["WARNING"]


class TestKeyAndQuota:
    def test_anonymous_page_above_25_is_refused_without_a_call(self):
        client, transport = make_client()

        with pytest.raises(se.PageLimitError):
            client.search_advanced("so", {"q": "x"}, "votes", "desc", 26)

        assert transport.requests == []

    def test_key_is_sent_and_lifts_the_page_limit(self):
        client, transport = make_client(gzipped(WRAPPER), key="s3cret")

        client.search_advanced("so", {"q": "x"}, "votes", "desc", 26)

        assert "key=s3cret" in transport.requests[0][0]
        assert client.page_limit is None

    def test_key_is_not_in_transport_error_messages(self):
        client, _ = make_client(
            OSError("boom http://api.test/?key=s3cret"), key="s3cret"
        )

        with pytest.raises(se.UpstreamError) as caught:
            client.get("sites", {})

        assert "s3cret" not in str(caught.value)

    def test_quota_is_recorded(self):
        state = se.MemoryState()
        client, _ = make_client(gzipped(WRAPPER), state=state)

        client.get("sites", {})

        assert state.quota == {"anonymous": (300, 297)}


@pytest.mark.parametrize(
    "path, key",
    [
        ("search/advanced", "search/advanced"),
        ("questions/1;2;3", "questions/{ids}"),
        ("/questions/4/answers", "questions/{ids}/answers"),
        ("me/questions", "users/{ids}/questions"),
    ],
)
def test_method_key_groups_vectorized_ids(path, key):
    assert se.method_key(path) == key
