"""The only code that talks to the Stack Exchange API (version 2.3).

A small client on the standard library.  It asks for compressed responses
and decodes them whatever the headers say, turns the API's error objects into
typed exceptions, and keeps the rules that keep an app in the API's good
graces: a method that answered with ``backoff`` is not called again before
that many seconds have passed (shared between processes through a
:class:`ClientState`), anonymous callers do not ask past page 25, and every
call reports the quota left.  The web app and the refresher both use it.
"""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import re
import socket
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol
from urllib.parse import urlencode, urlsplit

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100
ANONYMOUS_PAGE_LIMIT = 25
USER_AGENT = "StackWatch/0.1"
_RETRY_IN = re.compile(r"available in (\d+) second")


class StackExchangeError(Exception):
    """Base of every error the client raises."""

    #: Seconds after which trying again makes sense, when known.
    retry_after: float | None = None


class UpstreamError(StackExchangeError):
    """The API could not be reached or answered something that is not the API."""


class APITimeoutError(UpstreamError):
    """The API did not answer in time."""


class APIError(StackExchangeError):
    """An error object returned by the API (always under HTTP 400)."""

    def __init__(self, error_id: int, error_name: str, message: str):
        super().__init__(f"{error_name} ({error_id}): {message}")
        self.error_id = error_id
        self.error_name = error_name
        self.message = message


class BadParameterError(APIError):
    """``bad_parameter``: the request itself is wrong (site, filter, value)."""


class AccessDeniedError(APIError):
    """``access_denied``: for reads, asking past page 25 without a key."""


class NoMethodError(APIError):
    """``no_method``: the method does not exist."""


class ThrottleError(APIError):
    """``throttle_violation``: quota spent, backoff ignored or too many calls."""

    def __init__(self, error_id: int, error_name: str, message: str):
        super().__init__(error_id, error_name, message)
        match = _RETRY_IN.search(message)
        self.retry_after = float(match.group(1)) if match else None


class UnavailableError(APIError):
    """``temporarily_unavailable`` (503): the API, or part of it, is down."""


class InternalAPIError(APIError):
    """``internal_error`` (500): a bug on the API's side."""


class BackoffError(StackExchangeError):
    """The method is still under a ``backoff`` and the caller would not wait."""

    def __init__(self, method: str, not_before: float):
        self.method = method
        self.not_before = not_before
        self.retry_after = max(0.0, not_before - time.time())
        super().__init__(
            f"{method} may not be called for {self.retry_after:.0f} s (API backoff)"
        )


class PageLimitError(StackExchangeError):
    """Anonymous callers cannot read past page 25 of any method."""


_ERRORS_BY_NAME: dict[str, type[APIError]] = {
    "bad_parameter": BadParameterError,
    "access_denied": AccessDeniedError,
    "no_method": NoMethodError,
    "throttle_violation": ThrottleError,
    "temporarily_unavailable": UnavailableError,
    "internal_error": InternalAPIError,
}


@dataclass
class Response:
    """The API's common wrapper, decoded."""

    items: list[dict[str, Any]]
    has_more: bool
    quota_max: int | None = None
    quota_remaining: int | None = None
    backoff: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ClientState(Protocol):
    """Where the client keeps what every process must agree on."""

    def not_before(self, method: str) -> float | None:
        """The earliest time ``method`` may be called, or None."""

    def set_not_before(self, method: str, when: float) -> None:
        """Record that ``method`` may not be called before ``when``."""

    def record_quota(self, caller: str, quota_max: int, remaining: int) -> None:
        """Remember the quota the API last reported for ``caller``."""


class MemoryState:
    """A :class:`ClientState` for a single process (and for tests)."""

    def __init__(self) -> None:
        self.backoffs: dict[str, float] = {}
        self.quota: dict[str, tuple[int, int]] = {}

    def not_before(self, method: str) -> float | None:
        return self.backoffs.get(method)

    def set_not_before(self, method: str, when: float) -> None:
        self.backoffs[method] = max(when, self.backoffs.get(method, 0.0))

    def record_quota(self, caller: str, quota_max: int, remaining: int) -> None:
        self.quota[caller] = (quota_max, remaining)


# A transport takes (url, headers, connect_timeout, read_timeout,
# total_timeout) and returns (status, headers, body).  Unit tests hand the
# client a fake one; everything else uses _http_get.
Transport = Callable[
    [str, dict[str, str], float, float, float], tuple[int, dict[str, str], bytes]
]


def method_key(path: str) -> str:
    """The name ``backoff`` applies to: the route with ids replaced.

    ``questions/1;2;3`` and ``questions/4`` are the same method for the API's
    throttling, and so is ``me/...`` for ``users/{ids}/...``.
    """
    parts = path.strip("/").split("/")
    if parts and parts[0] == "me":
        parts = ["users", "{ids}"] + parts[1:]
    return "/".join("{ids}" if re.fullmatch(r"[\d;]+", p) else p for p in parts)


class StackExchangeClient:
    """Reads from the Stack Exchange API.

    Args:
        base_url: the API root, e.g. ``https://api.stackexchange.com/2.3``.
        key: an app key; it raises the quota and lifts the page-25 limit.
        state: shared backoff and quota records.
        max_wait: how long :meth:`get` sleeps for a backoff to pass before
            raising :class:`BackoffError` instead.
    """

    def __init__(
        self,
        base_url: str,
        key: str | None = None,
        state: ClientState | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        total_timeout: float = 25.0,
        max_wait: float = 0.0,
        transport: Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.key = key or None
        self.state = state or MemoryState()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.max_wait = max_wait
        self.transport = transport or _http_get
        self._sleep = sleep
        #: Number of HTTP requests this client has sent.
        self.calls = 0

    @property
    def page_limit(self) -> int | None:
        """The deepest page this client may ask for, or None for no limit."""
        return None if self.key else ANONYMOUS_PAGE_LIMIT

    def search_advanced(
        self, site: str, params: dict[str, Any], sort: str, order: str, page: int
    ) -> Response:
        """One page of ``/search/advanced``, 100 questions at most."""
        query = dict(params, site=site, sort=sort, order=order)
        query.update(page=page, pagesize=MAX_PAGE_SIZE)
        return self.get("search/advanced", query)

    def sites(self, max_pages: int = 20) -> list[dict[str, Any]]:
        """Every site of the network, following ``has_more`` up to a cap."""
        items: list[dict[str, Any]] = []
        for page in range(1, max_pages + 1):
            response = self.get("sites", {"page": page, "pagesize": MAX_PAGE_SIZE})
            items.extend(response.items)
            if not response.has_more:
                break
        return items

    def get(
        self, path: str, params: dict[str, Any], wait: float | None = None
    ) -> Response:
        """Call one read method and return its decoded wrapper.

        Raises:
            BackoffError: the method is under a backoff for longer than
                ``wait`` (default ``max_wait``) seconds.
            PageLimitError: an anonymous call asked for a page above 25.
            APIError: the API answered with an error object (a subclass
                names the error).
            UpstreamError: the API was unreachable, slow or sent garbage.
        """
        method = method_key(path)
        self._check_page(params)
        self._wait_for_backoff(method, self.max_wait if wait is None else wait)

        url = self._url(path, params)
        status, headers, body = self._send(url)
        payload = _decode(status, headers, body)
        if "error_id" in payload:
            self._remember_throttle(method, payload)
            raise _api_error(payload)

        response = _wrapper(payload, status)
        self._remember(method, response)
        return response

    def _check_page(self, params: dict[str, Any]) -> None:
        limit = self.page_limit
        if limit is not None and int(params.get("page", 1)) > limit:
            raise PageLimitError(f"pages above {limit} need an app key")

    def _wait_for_backoff(self, method: str, wait: float) -> None:
        not_before = self.state.not_before(method)
        delay = (not_before or 0.0) - time.time()
        if delay <= 0:
            return
        if delay > wait:
            raise BackoffError(method, not_before)
        log.info("waiting %.1f s for the backoff on %s", delay, method)
        self._sleep(delay)

    def _url(self, path: str, params: dict[str, Any]) -> str:
        query = {k: _param(v) for k, v in params.items() if v is not None}
        if self.key:
            query["key"] = self.key
        return f"{self.base_url}/{path.strip('/')}?{urlencode(sorted(query.items()))}"

    def _send(self, url: str) -> tuple[int, dict[str, str], bytes]:
        headers = {"Accept-Encoding": "gzip, deflate", "User-Agent": USER_AGENT}
        self.calls += 1
        try:
            return self.transport(
                url,
                headers,
                self.connect_timeout,
                self.read_timeout,
                self.total_timeout,
            )
        except TimeoutError as exc:
            raise APITimeoutError(
                "the Stack Exchange API did not answer in time"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            # The URL carries the key, so only the error's type is reported.
            raise UpstreamError(
                f"could not reach the Stack Exchange API ({type(exc).__name__})"
            ) from exc

    def _remember(self, method: str, response: Response) -> None:
        if response.backoff:
            log.warning("API asked to back off %s for %d s", method, response.backoff)
            self.state.set_not_before(method, time.time() + response.backoff)
        if response.quota_remaining is not None and response.quota_max is not None:
            caller = "key" if self.key else "anonymous"
            self.state.record_quota(
                caller, response.quota_max, response.quota_remaining
            )

    def _remember_throttle(self, method: str, payload: dict[str, Any]) -> None:
        # A throttle with a stated wait blocks the method for that long, so
        # that no process keeps hammering an API that has said no.
        if payload.get("error_name") == "throttle_violation":
            match = _RETRY_IN.search(str(payload.get("error_message", "")))
            if match:
                self.state.set_not_before(method, time.time() + int(match.group(1)))
        if "backoff" in payload:
            self.state.set_not_before(method, time.time() + int(payload["backoff"]))


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return str(value)


def _decode(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """Decompress and parse a body, whatever its headers claim."""
    encoding = headers.get("content-encoding", "").strip().lower()
    try:
        if encoding == "gzip" or body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = _inflate(body)
    except (OSError, EOFError, zlib.error) as exc:
        raise UpstreamError(
            f"the API sent a damaged compressed body (HTTP {status})"
        ) from exc

    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UpstreamError(
            f"the API sent something that is not JSON (HTTP {status})"
        ) from exc
    if not isinstance(payload, dict):
        raise UpstreamError(
            f"the API sent JSON that is not its wrapper (HTTP {status})"
        )
    return payload


def _inflate(body: bytes) -> bytes:
    # "deflate" is zlib-wrapped by the standard, raw by some servers.
    try:
        return zlib.decompress(body)
    except zlib.error:
        return zlib.decompress(body, -zlib.MAX_WBITS)


def _api_error(payload: dict[str, Any]) -> APIError:
    name = str(payload.get("error_name", "unknown_error"))
    error_class = _ERRORS_BY_NAME.get(name, APIError)
    try:
        error_id = int(payload.get("error_id", 0))
    except (TypeError, ValueError):
        error_id = 0
    return error_class(error_id, name, str(payload.get("error_message", "")))


def _wrapper(payload: dict[str, Any], status: int) -> Response:
    items = payload.get("items")
    if status != 200 or not isinstance(items, list):
        raise UpstreamError(f"the API answered HTTP {status} without items")
    if payload.get("has_more") and not items:
        # Seen in the wild; taking it as the end would erase stored rows,
        # and paging on could loop.
        raise UpstreamError("the API said more results follow but sent none")
    known = {"items", "has_more", "quota_max", "quota_remaining", "backoff"}
    return Response(
        items=items,
        has_more=bool(payload.get("has_more", False)),
        quota_max=payload.get("quota_max"),
        quota_remaining=payload.get("quota_remaining"),
        backoff=payload.get("backoff"),
        extra={k: v for k, v in payload.items() if k not in known},
    )


def _http_get(
    url: str,
    headers: dict[str, str],
    connect_timeout: float,
    read_timeout: float,
    total_timeout: float,
) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` with separate connect, read and overall deadlines."""
    deadline = time.monotonic() + total_timeout
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection
        if parts.scheme == "https"
        else http.client.HTTPConnection
    )
    connection = connection_class(parts.netloc, timeout=connect_timeout)
    try:
        connection.connect()
        sock = connection.sock
        sock.settimeout(read_timeout)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        body = _read_until(response, deadline, sock, read_timeout)
        response_headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, response_headers, body
    except socket.timeout as exc:
        raise TimeoutError(str(exc)) from exc
    finally:
        connection.close()


def _read_until(
    response: http.client.HTTPResponse, deadline: float, sock, read_timeout: float
) -> bytes:
    # A server that trickles a byte every few seconds never trips the read
    # timeout, so the whole body must also arrive before the deadline.
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the response took longer than the overall timeout")
        sock.settimeout(min(read_timeout, remaining))
        chunk = response.read1(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def client_from_settings(
    settings, state: ClientState, **overrides: Any
) -> StackExchangeClient:
    """The client configured by the ini's ``stackexchange.*`` values."""
    options = dict(
        key=settings.api_key,
        state=state,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        total_timeout=settings.total_timeout,
        max_wait=settings.max_wait,
    )
    options.update(overrides)
    return StackExchangeClient(settings.api_url, **options)
