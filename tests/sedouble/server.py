"""A local test double of the Stack Exchange API 2.3, serving recorded data.

``SEDouble`` runs an HTTP server on a loopback address, in a background
thread, and answers like ``https://api.stackexchange.com/2.3`` for these
methods:

* ``/search/advanced``, ``/search``, ``/similar``, ``/questions/{ids}``
  (up to 100 ids joined by ``;``) and ``/sites``; anything else is error 404
  ``no_method``. Matching and sorting are described in ``search.py``.
* Success bodies are the wrapper ``items``, ``has_more``, ``quota_max``,
  ``quota_remaining`` (in that order), plus ``backoff`` when one was armed.
  ``filter=withbody`` adds question bodies where recorded, ``filter=none``
  gives ``{}`` and ``filter=total`` gives ``{"total": N}``; any other filter
  id, custom ``!...`` ones included, acts as ``default``.
* Errors are ``{"error_id", "error_message", "error_name"}`` under HTTP 400,
  as the API does. ``bad_parameter`` names the parameter; an unknown site
  says ``No site found for name `x```.
* Bodies are gzip-compressed unless the request accepts deflate but not
  gzip; like the API, a missing ``Accept-Encoding`` still gets gzip.
* Quota: 300 calls a day without ``key``, 10,000 with one, counted per key.
  Every call to a known method counts, errors included, except calls refused
  for quota or backoff and calls answered by an injected fault. At zero the
  answer is 502 ``throttle_violation`` "too many requests from this IP, more
  requests available in N seconds".
* Pages above 25 need ``key`` (or ``access_token``): error 403
  ``access_denied``.
* Backoff: ``set_backoff(method, n)`` makes the next successful answer of that
  method carry ``backoff: n``; calling the same method again within ``n``
  seconds then gets 502 ``throttle_violation`` "Violation of backoff
  parameter". Other methods are unaffected.

``fail(method, kind, times=1, seconds=None, status=None)`` makes the next
``times`` calls of ``method`` (or of any method, with ``"*"``) go wrong:

=====================  ======================================================
kind                   what the client gets
=====================  ======================================================
``throttle``           502 ``throttle_violation``, "... more requests available
                       in N seconds" (N = ``seconds``, default 60)
``throttle_plain``     502 ``throttle_violation`` without a waiting time
``unavailable``        503 ``temporarily_unavailable``
``internal``           500 ``internal_error``
``hang``               no answer for ``seconds`` (default 60), then the
                       connection closes
``slow``               the normal answer after ``seconds`` (default 5)
``close``              the connection closes without any response
``truncated``          the normal headers, and a compressed body cut in half
                       (Content-Length matches what is sent)
``html``               an HTML page, HTTP ``status`` (default 503), no
                       Content-Encoding
``empty_has_more``     a normal wrapper with no items and ``has_more: true``
``uncompressed_error`` an ``internal_error`` body without Content-Encoding
=====================  ======================================================

The same controls are served over HTTP by the same server, so a double in
another process can be driven (``call_control`` is a small client). Each
takes a JSON object of the Python method's keyword arguments and answers
``{"ok": true, ...}``; bad arguments give HTTP 400, unknown questions or sites
HTTP 404, both as ``{"ok": false, "error": "..."}``:

* ``POST /__control/reset``, ``POST /__control/clear_calls``
* ``POST /__control/set_question`` ``{"site", "question_id", <field>: value}``
  answers ``{"question": {...}}``; a ``null`` value removes the field
* ``POST /__control/add_question`` ``{"site", "item": {...}}``
* ``POST /__control/hide_question``, ``reveal_question``, ``remove_question``
  ``{"site", "question_id"}``
* ``POST /__control/set_backoff`` ``{"method", "seconds"}``
* ``POST /__control/fail`` ``{"method", "kind", "times", "seconds", "status"}``
* ``POST /__control/set_quota`` ``{"remaining", "key"}``
* ``GET /__control/calls`` answers ``{"calls": [{"method", "path", "params",
  "time", "headers"}, ...]}``
* ``GET /__control/quota?key=`` answers ``{"quota_max", "quota_remaining"}``
* ``GET /__control/question?site=&question_id=`` answers ``{"question"}``

Run it on its own with ``python -m tests.sedouble --port 6590``.
"""

import contextlib
import copy
import gzip
import http.server
import ipaddress
import json
import logging
import math
import socket
import socketserver
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from . import search
from .search import APIError, Page
from .store import QuestionStore, served_fields

log = logging.getLogger(__name__)

API_PREFIX = "/2.3/"
CONTROL_PREFIX = "/__control/"
JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

ANONYMOUS_QUOTA = 300
KEYED_QUOTA = 10_000
QUOTA_WINDOW = 24 * 60 * 60

METHODS = ("search/advanced", "search", "similar", "questions/{ids}", "sites")

# Fault kinds, with the default of their ``seconds`` argument where they use it.
FAULT_KINDS = {
    "throttle": 60,
    "throttle_plain": None,
    "unavailable": None,
    "internal": None,
    "hang": 60,
    "slow": 5,
    "close": None,
    "truncated": None,
    "html": None,
    "empty_has_more": None,
    "uncompressed_error": None,
}
# These faults replace the answer; the others alter a normal one.
_REPLACING_FAULTS = frozenset(FAULT_KINDS) - {"slow", "truncated", "empty_has_more"}

_SEARCHES: dict[str, Callable[[QuestionStore, str, dict], Page]] = {
    "search/advanced": search.search_advanced,
    "search": search.search,
    "similar": search.similar,
}

# Control endpoints that change state, each named after its SEDouble method.
_CONTROL_WRITERS = frozenset(
    {
        "reset",
        "clear_calls",
        "set_question",
        "add_question",
        "hide_question",
        "reveal_question",
        "remove_question",
        "set_backoff",
        "fail",
        "set_quota",
    }
)

_HTML_PAGE = b"""<!DOCTYPE html>
<html>
<head><title>Service Unavailable</title></head>
<body>
<h1>Service Unavailable</h1>
<p>This service is offline for maintenance. Please come back in a few minutes.</p>
</body>
</html>
"""


@dataclass(frozen=True)
class Call:
    """One request the double received on its API prefix."""

    method: str | None
    path: str
    params: dict[str, str]
    time: float
    headers: dict[str, str]


@dataclass
class _Fault:
    method: str
    kind: str
    times: int
    seconds: float | None
    status: int | None


@dataclass
class _Quota:
    maximum: int
    remaining: int
    resets_at: float


@dataclass
class _Reply:
    """What the handler should send; built under the lock, sent outside it."""

    status: int = 200
    body: bytes = b""
    content_type: str = JSON_TYPE
    encoding: str | None = None
    delay: float = 0.0
    close: bool = False


class SEDouble:
    """A Stack Exchange API test double on a loopback port.

    Use it as a context manager, or call ``start`` and ``stop``. All control
    methods are thread-safe and take effect on the next request.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | Path | None = None,
    ) -> None:
        self.host = _loopback(host)
        self.port = port
        self._store = QuestionStore(Path(data_dir) if data_dir else None)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._clear_state()

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "SEDouble":
        """Bind the port and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("the double is already running")
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sedouble-{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake hanging requests and drop open connections."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "SEDouble":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise RuntimeError("the double is not running")
        port = self._server.server_address[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The API root to give clients, like ``https://api.stackexchange.com/2.3``."""
        return self.base_url + API_PREFIX.rstrip("/")

    @property
    def control_url(self) -> str:
        """The root of the HTTP control endpoints."""
        return self.base_url + CONTROL_PREFIX.rstrip("/")

    # -- control -----------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Requests received on the API prefix, oldest first."""
        with self._lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._calls = []

    def reset(self) -> None:
        """Restore the recorded data and clear quota, faults, backoff, calls."""
        with self._lock:
            self._store.reset()
            self._clear_state()

    def get_question(self, site: str, question_id: int) -> dict:
        """Return a copy of a stored question as ``filter=withbody`` shows it."""
        with self._lock:
            question = self._store.get(self._site_name(site), int(question_id))
            return copy.deepcopy(served_fields(question, with_body=True))

    def set_question(self, site: str, question_id: int, **fields: object) -> dict:
        """Change fields of a question (``None`` removes one); returns it.

        Titles are served as given, so pass them entity-encoded like the API.
        """
        with self._lock:
            site = self._site_name(site)
            fields = copy.deepcopy(fields)
            question = self._store.update(site, int(question_id), fields)
            return copy.deepcopy(served_fields(question, with_body=True))

    def add_question(self, site: str, item: dict) -> dict:
        """Add a question; missing required fields get neutral values."""
        with self._lock:
            question = self._store.add(self._site_name(site), copy.deepcopy(item))
            return copy.deepcopy(served_fields(question, with_body=True))

    def hide_question(self, site: str, question_id: int) -> None:
        """Hold a question back until ``reveal_question``."""
        with self._lock:
            self._store.hide(self._site_name(site), int(question_id))

    def reveal_question(self, site: str, question_id: int) -> None:
        """Serve a held-back question again."""
        with self._lock:
            self._store.reveal(self._site_name(site), int(question_id))

    def remove_question(self, site: str, question_id: int) -> None:
        """Delete a question until the next ``reset``."""
        with self._lock:
            self._store.remove(self._site_name(site), int(question_id))

    def set_backoff(self, method: str, seconds: int) -> None:
        """Make the next answer of ``method`` carry ``backoff: seconds``."""
        seconds = int(seconds)
        if seconds < 1:
            raise ValueError("backoff seconds must be at least 1")
        with self._lock:
            self._backoff_armed[_method_key(method)] = seconds

    def fail(
        self,
        method: str,
        kind: str,
        times: int = 1,
        seconds: float | None = None,
        status: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (``"*"``: any) fail."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if int(times) < 1:
            raise ValueError("times must be at least 1")
        if seconds is None:
            seconds = FAULT_KINDS[kind]

        fault = _Fault(_method_key(method), kind, int(times), seconds, status)
        with self._lock:
            self._faults.append(fault)

    def set_quota(self, remaining: int, key: str | None = None) -> None:
        """Set the calls left today for anonymous callers or for ``key``."""
        with self._lock:
            quota = self._quota_for(key or None, time.monotonic())
            quota.remaining = max(0, int(remaining))

    def quota(self, key: str | None = None) -> dict:
        """Return ``quota_max`` and ``quota_remaining`` for a caller."""
        with self._lock:
            quota = self._quota_for(key or None, time.monotonic())
            return {"quota_max": quota.maximum, "quota_remaining": quota.remaining}

    # -- request handling --------------------------------------------------

    def _clear_state(self) -> None:
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._backoff_armed: dict[str, int] = {}
        self._backoff_until: dict[str, float] = {}
        self._quotas: dict[str | None, _Quota] = {}

    def _answer(self, raw_path: str, headers: Message) -> _Reply:
        """Build the reply to one API request."""
        url = urlsplit(raw_path)
        params = {k: v for k, v in parse_qsl(url.query, keep_blank_values=True) if v}
        route = _route(url.path)
        # Header names are case-insensitive on the wire; Message honours that.
        encoding = _pick_encoding(headers.get("Accept-Encoding"))
        method = route[0] if route else None

        call = Call(method, url.path, params, time.time(), dict(headers.items()))
        with self._lock:
            self._calls.append(call)
            fault = self._take_fault(method) if method else None
            if fault and fault.kind in _REPLACING_FAULTS:
                return _fault_reply(fault, encoding)
            try:
                reply = _json_reply(self._respond(route, params, fault), encoding)
            except APIError as exc:
                reply = _json_reply(exc.body(), encoding, status=400)

        if fault and fault.kind == "slow":
            reply.delay = fault.seconds
        elif fault and fault.kind == "truncated":
            reply.body = reply.body[: len(reply.body) // 2]
        return reply

    def _respond(
        self, route: tuple[str, str] | None, params: dict, fault: _Fault | None
    ) -> dict:
        if route is None:
            raise APIError(404, "no method found with this name")
        method, ids = route
        self._check_backoff(method)
        quota = self._charge(params.get("key"))

        page = self._dispatch(method, ids, params)
        if fault and fault.kind == "empty_has_more":
            page = Page([], True, page.total, page.type)
        body = _shape(page, params.get("filter", "default"), quota)

        armed = self._backoff_armed.pop(method, None)
        if armed is not None:
            body["backoff"] = armed
            self._backoff_until[method] = time.monotonic() + armed
        return body

    def _dispatch(self, method: str, ids: str, params: dict) -> Page:
        if method == "sites":
            return search.sites(self._store, params)

        if "site" not in params:
            raise APIError(400, "site is required")
        site = self._store.resolve_site(params["site"])
        if site is None:
            raise APIError(400, f"No site found for name `{params['site']}`")

        if method == "questions/{ids}":
            return search.questions_by_ids(self._store, site, ids, params)
        return _SEARCHES[method](self._store, site, params)

    def _check_backoff(self, method: str) -> None:
        until = self._backoff_until.get(method)
        if until is not None and time.monotonic() < until:
            raise APIError(502, "Violation of backoff parameter")

    def _charge(self, key: str | None) -> _Quota:
        now = time.monotonic()
        quota = self._quota_for(key, now)
        if quota.remaining <= 0:
            wait = max(1, math.ceil(quota.resets_at - now))
            raise APIError(
                502,
                "too many requests from this IP, more requests available in "
                f"{wait} seconds",
            )
        quota.remaining -= 1
        return quota

    def _quota_for(self, key: str | None, now: float) -> _Quota:
        quota = self._quotas.get(key)
        if quota is None or now >= quota.resets_at:
            maximum = KEYED_QUOTA if key else ANONYMOUS_QUOTA
            quota = _Quota(maximum, maximum, now + QUOTA_WINDOW)
            self._quotas[key] = quota
        return quota

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in (method, "*"):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _site_name(self, site: str) -> str:
        name = self._store.resolve_site(site)
        if name is None:
            raise KeyError(f"unknown site {site!r}")
        return name

    # -- HTTP control ------------------------------------------------------

    def _control(self, command: str, raw_path: str, payload: bytes) -> _Reply:
        """Run one ``/__control/`` request."""
        url = urlsplit(raw_path)
        name = url.path[len(CONTROL_PREFIX) :].strip("/")
        try:
            if command == "GET":
                kwargs = dict(parse_qsl(url.query))
            else:
                kwargs = json.loads(payload or b"{}")
            if not isinstance(kwargs, dict):
                raise ValueError("the body must be a JSON object")
            result = self._run_control(name, command, kwargs)
        except KeyError as exc:
            return _plain_json({"ok": False, "error": str(exc.args[0])}, 404)
        except (TypeError, ValueError) as exc:
            return _plain_json({"ok": False, "error": str(exc)}, 400)
        return _plain_json({"ok": True, **result}, 200)

    def _run_control(self, name: str, command: str, kwargs: dict) -> dict:
        readers = {
            "calls": lambda: {"calls": [asdict(call) for call in self.calls]},
            "quota": lambda key=None: self.quota(key),
            "question": lambda **kw: {"question": self.get_question(**kw)},
        }
        if name in readers:
            return readers[name](**kwargs)

        if name not in _CONTROL_WRITERS:
            raise KeyError(f"no control named {name!r}")
        if command != "POST":
            raise ValueError(f"{name} needs POST")
        result = getattr(self, name)(**kwargs)
        return {"question": result} if isinstance(result, dict) else {}


def call_control(base_url: str, name: str, **kwargs: object) -> dict:
    """Drive a double in another process through its HTTP control endpoints.

    ``base_url`` is the double's ``http://host:port`` (an API root ending in
    ``/2.3`` is accepted too). Reads (``calls``, ``quota``, ``question``) are
    sent as POST as well, which the double accepts.
    """
    root = base_url.rstrip("/").removesuffix(API_PREFIX.rstrip("/"))
    request = urllib.request.Request(
        f"{root}{CONTROL_PREFIX}{name}",
        data=json.dumps(kwargs).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], double: SEDouble) -> None:
        self.double = double
        self.stopping = double._stopping
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up; a loopback double
        # has no use for it and should not wait on a resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: object, client_address: tuple) -> None:
        # socketserver would print to stderr; a bug here belongs in the log.
        log.exception("error while answering %s", client_address[0])

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def drop_connections(self) -> None:
        """End idle keep-alive connections so their threads finish."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # A connection the client closed meanwhile needs nothing more.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SEDouble"
    sys_version = ""
    # Idle keep-alive connections give up on their own after this long.
    timeout = 30
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        double = self.server.double
        payload = self._read_payload()
        if urlsplit(self.path).path.startswith(CONTROL_PREFIX):
            reply = double._control(self.command, self.path, payload)
        elif self.command == "GET":
            reply = double._answer(self.path, self.headers)
        else:
            # The read methods this double serves are all GETs.
            error = APIError(404, "no method found with this name")
            encoding = _pick_encoding(self.headers.get("Accept-Encoding"))
            reply = _json_reply(error.body(), encoding, status=400)
        self._send(reply)

    def _read_payload(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, reply: _Reply) -> None:
        if reply.delay:
            self.server.stopping.wait(reply.delay)
        if reply.close or self.server.stopping.is_set():
            self.close_connection = True
            return

        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            if reply.encoding:
                self.send_header("Content-Encoding", reply.encoding)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first, which timeout tests do on purpose.
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def _route(path: str) -> tuple[str, str] | None:
    """Return ``(method, ids)`` for an API path, or None if there is none."""
    if not path.startswith(API_PREFIX):
        return None
    rest = path[len(API_PREFIX) :].strip("/")
    if rest.lower() in METHODS:
        return rest.lower(), ""

    head, _, ids = rest.partition("/")
    if head.lower() == "questions" and ids and "/" not in ids:
        return "questions/{ids}", unquote(ids)
    return None


def _method_key(method: str) -> str:
    """Normalise a method name given to ``set_backoff`` or ``fail``."""
    name = method.strip().strip("/").lower().removeprefix("2.3/")
    if name == "questions" or name.startswith("questions/"):
        name = "questions/{ids}"
    if name != "*" and name not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
    return name


def _pick_encoding(accept_encoding: str | None) -> str:
    """Choose gzip or deflate; the API compresses even when not asked to."""
    if accept_encoding is None:
        return "gzip"
    accepted = set()
    for part in accept_encoding.split(","):
        name, _, options = part.strip().lower().partition(";")
        quality = options.strip().removeprefix("q=")
        if name and quality not in ("0", "0.0", "0.00", "0.000"):
            accepted.add(name.strip())

    if "deflate" in accepted and not accepted & {"gzip", "x-gzip", "*"}:
        return "deflate"
    return "gzip"


def _compress(data: bytes, encoding: str) -> bytes:
    if encoding == "deflate":
        # HTTP's "deflate" is the zlib format (RFC 9110, section 8.4.1.2).
        return zlib.compress(data)
    return gzip.compress(data, mtime=0)


def _json_reply(body: dict, encoding: str | None, status: int = 200) -> _Reply:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    if encoding is None:
        return _Reply(status=status, body=data)
    return _Reply(status=status, body=_compress(data, encoding), encoding=encoding)


def _plain_json(body: dict, status: int) -> _Reply:
    return _Reply(status=status, body=json.dumps(body).encode())


def _shape(page: Page, filter_name: str, quota: _Quota) -> dict:
    """Apply a built-in filter to a page and add the quota fields."""
    if filter_name == "none":
        return {}
    if filter_name == "total":
        return {"total": page.total}

    with_body = filter_name == "withbody"
    if page.type == "question":
        items = [served_fields(item, with_body) for item in page.items]
    else:
        items = list(page.items)
    return {
        "items": items,
        "has_more": page.has_more,
        "quota_max": quota.maximum,
        "quota_remaining": quota.remaining,
    }


def _fault_reply(fault: _Fault, encoding: str) -> _Reply:
    """The reply for faults that replace the normal answer."""
    if fault.kind == "hang":
        return _Reply(delay=fault.seconds, close=True)
    if fault.kind == "close":
        return _Reply(close=True)
    if fault.kind == "html":
        status = fault.status or 503
        return _Reply(status=status, body=_HTML_PAGE, content_type=HTML_TYPE)

    if fault.kind == "throttle":
        error = APIError(
            502,
            "too many requests from this IP, more requests available in "
            f"{math.ceil(fault.seconds)} seconds",
        )
    elif fault.kind == "throttle_plain":
        error = APIError(502, "too many requests from this IP")
    elif fault.kind == "unavailable":
        error = APIError(503, "the API is temporarily unavailable")
    else:
        error = APIError(500, "an internal error occurred")
    if fault.kind == "uncompressed_error":
        encoding = None
    return _json_reply(error.body(), encoding, status=400)


def _loopback(host: str) -> str:
    """Refuse any address that other machines could reach."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host must be a loopback IP address, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"host must be a loopback address, not {host!r}")
    return host
