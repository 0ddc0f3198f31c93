"""The notifier against a real Redis, the test database and real WebSocket clients.

Most tests run the notifier's server coroutine on its own event loop in a
background thread and talk to it with websockets' sync client, or with a raw
socket where a client must misbehave.  The signal and exit-status tests run
the ``stackwatch-notifier`` console script as supervisord would.
"""

import asyncio
import base64
import dataclasses
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from pyramid.paster import get_appsettings
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from daemons.notifier import (
    Notifier,
    RedisUnavailableError,
    app_origins,
    config_from_settings,
    parse_subscription,
    run,
    site_origin,
)
from tests.conftest import TEST_INI
from tests.notices import (
    CHANNEL,
    NotifierThread,
    announce,
    backdate_pages,
    publish,
    saved_search,
    store_event,
)
from tests.servers import free_port
from webapp import settings as stackwatch_settings
from webapp.services import page_cache

HTTP_PORT = 6553
APP_ORIGIN = f"http://127.0.0.1:{HTTP_PORT}"
EXTRA_ORIGIN = "https://allowed.example"
NOTIFIER_SCRIPT = Path(sys.executable).with_name("stackwatch-notifier")
REFRESHER_SCRIPT = Path(sys.executable).with_name("stackwatch-refresher")


# -- fixtures and helpers -----------------------------------------------------


@pytest.fixture
def config(redis_url, database_url, session_factory, monkeypatch):
    """The notifier's config from testing.ini, on the test servers and a free port."""
    monkeypatch.delenv(stackwatch_settings.HTTP_PORT_VARIABLE, raising=False)
    raw = dict(get_appsettings(TEST_INI))
    raw.update(
        {
            "sqlalchemy.url": database_url,
            "redis.url": redis_url,
            "notifier.allowed_origins": EXTRA_ORIGIN,
        }
    )
    settings = stackwatch_settings.parse(raw, environ={})
    parsed = config_from_settings(settings, raw, HTTP_PORT)
    return dataclasses.replace(parsed, port=free_port())


@pytest.fixture
def start_notifier(config):
    """Start notifiers; keyword arguments replace fields of the config."""
    started = []

    def start(**changes):
        notifier = NotifierThread(dataclasses.replace(config, **changes), APP_ORIGIN)
        notifier.start()
        started.append(notifier)
        return notifier

    yield start
    for notifier in started:
        notifier.stop()


@pytest.fixture
def notifier(start_notifier):
    return start_notifier()


@pytest.fixture
def notifier_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="daemons.notifier")
    return caplog


def notifier_records(caplog):
    return [r for r in caplog.records if r.name == "daemons.notifier"]


def client(notifier, query="", origin=APP_ORIGIN):
    return connect(notifier.url(query), origin=origin, open_timeout=5)


def received(ws, timeout=5):
    return json.loads(ws.recv(timeout=timeout))


def assert_nothing_more(ws, wait=0.5):
    with pytest.raises(TimeoutError):
        ws.recv(timeout=wait)


def message(event_id, search_id=1, **fields):
    """A message as the refresher publishes it (not stored)."""
    return json.dumps(
        dict(
            event_id=event_id,
            search_id=search_id,
            site="stackoverflow",
            query="python",
            new=1,
            changed=0,
            time="2026-01-01T00:00:00Z",
            url=f"/searches/{search_id}",
            **fields,
        )
    )


def raw_client(notifier, receive_buffer=None):
    """A WebSocket client on a plain socket, which reads only when told to."""
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", notifier.config.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{notifier.config.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {APP_ORIGIN}\r\n\r\n"
        ).encode()
    )
    # Byte by byte, so that no frame after the headers is consumed.
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def read_until_closed(sock, timeout):
    """Everything the server sends until it closes the socket."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def publish_paced(redis_url, count, padding, pause=0.004):
    sender = redis.Redis.from_url(redis_url)
    for event_id in range(1, count + 1):
        sender.publish(CHANNEL, message(event_id, sent=time.time(), padding=padding))
        time.sleep(pause)
    sender.close()


def subscribers(redis_url):
    client = redis.Redis.from_url(redis_url, socket_timeout=1)
    try:
        return dict(client.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0)
    except redis.ConnectionError:
        return 0
    finally:
        client.close()


def eventually(check, timeout=15, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return False


# -- configuration ------------------------------------------------------------


class TestConfig:
    def test_app_origins_by_default(self):
        assert app_origins(6543, None, ()) == (
            "http://127.0.0.1:6543",
            "http://localhost:6543",
            "http://[::1]:6543",
        )

    def test_public_url_adds_its_site_and_extra_origins_follow(self):
        site = site_origin("wss://stackwatch.example/ws")

        origins = app_origins(80, site, ("https://other.example/",))

        assert site == "https://stackwatch.example"
        assert origins[0] == "http://127.0.0.1"
        assert origins[-2:] == ("https://stackwatch.example", "https://other.example")

    def test_public_url_keeps_a_port_that_is_not_the_default(self):
        assert site_origin("ws://example.org:8080/ws") == "http://example.org:8080"

    def test_public_url_must_be_a_websocket_url(self):
        with pytest.raises(
            stackwatch_settings.SettingsError, match="notifier.public_url"
        ):
            site_origin("https://example.org/ws")

    def test_ini_values_are_read(self, config):
        assert (config.redis_timeout, config.catchup_limit, config.ping_interval) == (
            60,
            100,
            20,
        )
        assert EXTRA_ORIGIN in config.origins

    @pytest.mark.parametrize(
        "query, searches, last",
        [
            ("", None, None),
            ("searches=all", None, None),
            ("searches=3,5&last_event_id=42", frozenset({3, 5}), 42),
            ("last_event_id=0", None, 0),
        ],
    )
    def test_subscription_from_the_query(self, query, searches, last):
        subscription = parse_subscription(query)

        assert (subscription.searches, subscription.last_event_id) == (searches, last)

    @pytest.mark.parametrize(
        "query",
        [
            "searches=x",
            "searches=1,,2",
            "searches=-1",
            "last_event_id=-1",
            "last_event_id=1&last_event_id=2",
            "searches=" + ",".join(["1"] * 1001),
        ],
    )
    def test_malformed_subscription_is_refused(self, query):
        with pytest.raises(ValueError):
            parse_subscription(query)


# -- the handshake ------------------------------------------------------------


class TestHandshake:
    @pytest.mark.parametrize(
        "origin", [APP_ORIGIN, f"http://localhost:{HTTP_PORT}", EXTRA_ORIGIN]
    )
    def test_allowed_origin_is_accepted(self, notifier, origin):
        with client(notifier, origin=origin) as ws:
            ws.ping().wait(5)

    @pytest.mark.parametrize(
        "origin",
        ["http://evil.example", f"http://127.0.0.1:{HTTP_PORT + 1}", "null", None],
    )
    def test_foreign_or_missing_origin_is_refused_with_403(self, notifier, origin):
        with pytest.raises(InvalidStatus) as refused:
            client(notifier, origin=origin)

        assert refused.value.response.status_code == 403

    def test_other_paths_are_404(self, notifier):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{notifier.config.port}/other", origin=APP_ORIGIN)

        assert refused.value.response.status_code == 404

    def test_malformed_subscription_is_400(self, notifier):
        with pytest.raises(InvalidStatus) as refused:
            client(notifier, "searches=python")

        assert refused.value.response.status_code == 400


# -- relaying -----------------------------------------------------------------


class TestRelay:
    def test_message_reaches_the_clients_that_asked_for_its_search(
        self, notifier, redis_url
    ):
        with (
            client(notifier, "searches=1") as one,
            client(notifier, "searches=2,3") as other,
            client(notifier) as every,
        ):
            publish(redis_url, message(10, search_id=1))

            assert received(one)["event_id"] == 10
            assert received(every)["event_id"] == 10
            assert_nothing_more(other)

            publish(redis_url, message(11, search_id=3))
            assert received(other)["event_id"] == 11

    def test_message_is_relayed_as_published_plus_the_page_url(
        self, notifier, redis_url
    ):
        published = json.loads(message(12, search_id=4))

        with client(notifier) as ws:
            publish(redis_url, json.dumps(published))
            got = received(ws)

        assert got == dict(published, page_url="/searches/4")

    def test_page_url_is_absolute_when_the_site_is_known(
        self, start_notifier, redis_url
    ):
        notifier = start_notifier(site_origin="https://stackwatch.example")

        with client(notifier) as ws:
            publish(redis_url, message(13, search_id=4))

            assert received(ws)["page_url"] == "https://stackwatch.example/searches/4"

    @pytest.mark.parametrize(
        "bad, reason",
        [
            ("not json", "not JSON"),
            ("[1, 2]", "not a JSON object"),
            ('{"event_id": 1}', "search_id"),
            ('{"event_id": "1", "search_id": 1}', "event_id"),
        ],
    )
    def test_malformed_message_is_skipped_with_a_warning(
        self, notifier, redis_url, notifier_logs, bad, reason
    ):
        with client(notifier) as ws:
            publish(redis_url, bad)
            publish(redis_url, message(14))

            assert received(ws)["event_id"] == 14

        warnings = [
            r for r in notifier_records(notifier_logs) if r.levelno == logging.WARNING
        ]
        assert len(warnings) == 1
        assert reason in warnings[0].getMessage()
        assert bad not in warnings[0].getMessage()

    def test_happy_path_logs_lifecycle_at_info_and_messages_at_debug(
        self, start_notifier, redis_url, notifier_logs
    ):
        notifier = start_notifier()
        with client(notifier) as ws:
            publish(redis_url, message(15))
            received(ws)
        notifier.stop()

        records = notifier_records(notifier_logs)
        info = [r.getMessage() for r in records if r.levelno == logging.INFO]
        assert any(line.startswith("subscribed to ") for line in info)
        assert any(line.startswith("listening on ws://") for line in info)
        assert info[-1] == "stopped"
        assert not any("relayed" in line for line in info)
        assert [r for r in records if r.levelno > logging.INFO] == []


# -- slow and silent clients --------------------------------------------------


class TestSlowClients:
    def test_client_that_stops_reading_is_dropped_without_delaying_others(
        self, notifier, redis_url, notifier_logs
    ):
        count, padding = 500, "x" * 16_000
        slow = raw_client(notifier, receive_buffer=4096)
        with client(notifier) as fast:
            # 8 MB in two seconds: far more than the slow reader's socket
            # buffers hold, at a pace the fast reader keeps up with.
            sender = threading.Thread(
                target=publish_paced, args=(redis_url, count, padding)
            )
            sender.start()
            delays = []
            for expected in range(1, count + 1):
                got = received(fast)
                delays.append(time.time() - got["sent"])
                assert got["event_id"] == expected
            sender.join()

        assert max(delays) < 1.0, f"slowest message took {max(delays):.2f} s"
        dropped = [
            r for r in notifier_logs.records if "stopped reading" in r.getMessage()
        ]
        assert len(dropped) == 1
        slow.close()

    def test_client_that_does_not_answer_pings_is_closed(self, start_notifier):
        notifier = start_notifier(ping_interval=0.3)
        silent = raw_client(notifier)

        started = time.monotonic()
        data = read_until_closed(silent, timeout=10)

        assert time.monotonic() - started < 5
        assert data[:1] == b"\x89"  # a ping frame came first
        assert b"\x88" in data  # then a close frame
        silent.close()


# -- Redis going away ---------------------------------------------------------


class TestRedisOutage:
    def test_messages_flow_again_after_redis_restarts(
        self, notifier, redis_server, redis_url, notifier_logs
    ):
        with client(notifier) as ws:
            redis_server.stop()
            time.sleep(1.0)
            redis_server.start()
            assert eventually(lambda: subscribers(redis_url) == 1), (
                "never subscribed again"
            )

            publish(redis_url, message(20))

            assert received(ws)["event_id"] == 20
        lines = [r.getMessage() for r in notifier_logs.records]
        assert any(line.startswith("redis link lost") for line in lines)
        assert any(line.startswith("reconnected to redis") for line in lines)

    def test_events_stored_while_redis_was_down_are_relayed_after(
        self, start_notifier, redis_server, redis_url, session_factory
    ):
        notifier = start_notifier(sweep_interval=1000)
        search_id = saved_search(session_factory)
        with client(notifier) as ws:
            redis_server.stop()
            # The refresher stored this one but could not publish it.
            missed = json.loads(store_event(session_factory, search_id))
            redis_server.start()

            got = received(ws, timeout=20)

            assert got["event_id"] == missed["event_id"]
            publish(redis_url, json.dumps(missed))  # published late after all
            assert_nothing_more(ws)

    def test_running_notifier_gives_up_when_redis_stays_away(
        self, start_notifier, redis_server
    ):
        notifier = start_notifier(redis_timeout=1.5)
        with client(notifier) as ws:
            redis_server.stop()

            assert notifier.wait(timeout=15), "the notifier kept running without Redis"
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)

        assert isinstance(notifier.error, RedisUnavailableError)
        assert closed.value.rcvd.code == 1001

    def test_notifier_does_not_start_without_redis(self, config):
        dead = dataclasses.replace(
            config, redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout=1
        )

        started = time.monotonic()
        with pytest.raises(RedisUnavailableError):
            asyncio.run(run(dead, asyncio.Event()))

        assert time.monotonic() - started < 5

    def test_stored_events_that_were_never_published_go_out_with_the_sweep(
        self, start_notifier, session_factory, notifier_logs
    ):
        notifier = start_notifier(sweep_interval=0.3)
        search_id = saved_search(session_factory)
        with client(notifier) as ws:
            unpublished = json.loads(store_event(session_factory, search_id, age=60))

            assert received(ws)["event_id"] == unpublished["event_id"]
            assert_nothing_more(ws, wait=1.0)
        assert any("not published" in r.getMessage() for r in notifier_logs.records)

    def test_sweeping_an_event_purges_its_cached_pages_first(
        self, start_notifier, session_factory, redis_server
    ):
        notifier = start_notifier(sweep_interval=0.3)
        search_id = saved_search(session_factory)
        generation = page_cache.GENERATION_PREFIX + page_cache.search_group(search_id)
        with client(notifier) as ws:
            store_event(session_factory, search_id, age=60)

            received(ws)
            # The purge the refresher could not make is made before the relay.
            assert redis_server.client().get(generation) == b"1"


# -- catching up --------------------------------------------------------------


class TestCatchUp:
    def test_reconnecting_client_gets_what_it_missed_then_live_messages(
        self, notifier, redis_url, session_factory
    ):
        python, java = (
            saved_search(session_factory),
            saved_search(session_factory, "java"),
        )
        seen = announce(session_factory, redis_url, python)["event_id"]
        missed = [
            announce(session_factory, redis_url, python)["event_id"],
            announce(session_factory, redis_url, java)["event_id"],
        ]

        with client(notifier, f"last_event_id={seen}") as ws:
            caught_up = [received(ws)["event_id"] for _ in missed]
            live = announce(session_factory, redis_url, python)["event_id"]

            assert caught_up == missed
            assert received(ws)["event_id"] == live
            assert_nothing_more(ws)

    def test_catch_up_keeps_to_the_searches_asked_for(
        self, notifier, redis_url, session_factory
    ):
        python, java = (
            saved_search(session_factory),
            saved_search(session_factory, "java"),
        )
        mine = announce(session_factory, redis_url, python)["event_id"]
        announce(session_factory, redis_url, java)

        with client(notifier, f"searches={python}&last_event_id=0") as ws:
            assert received(ws)["event_id"] == mine
            assert_nothing_more(ws)

    def test_catch_up_sends_the_newest_events_up_to_the_limit(
        self, start_notifier, redis_url, session_factory
    ):
        notifier = start_notifier(catchup_limit=3)
        search_id = saved_search(session_factory)
        ids = [
            announce(session_factory, redis_url, search_id)["event_id"]
            for _ in range(5)
        ]

        with client(notifier, "last_event_id=0") as ws:
            assert [received(ws)["event_id"] for _ in range(3)] == ids[-3:]
            assert_nothing_more(ws)

    def test_events_during_the_catch_up_read_arrive_once_and_in_order(
        self, notifier, redis_url, session_factory, monkeypatch
    ):
        search_id = saved_search(session_factory)
        seen = announce(session_factory, redis_url, search_id)["event_id"]
        read = Notifier._stored_events
        racing = []

        def slow_read(self, after, searches):
            # One event is stored and published just before the read and
            # one just after it; the notifier gets both live meanwhile.
            racing.append(announce(session_factory, redis_url, search_id)["event_id"])
            time.sleep(0.5)
            rows = read(self, after, searches)
            racing.append(announce(session_factory, redis_url, search_id)["event_id"])
            time.sleep(0.5)
            return rows

        monkeypatch.setattr(Notifier, "_stored_events", slow_read)
        with client(notifier, f"last_event_id={seen}") as ws:
            got = [received(ws)["event_id"] for _ in range(2)]
            live = announce(session_factory, redis_url, search_id)["event_id"]

            assert got == racing
            assert received(ws)["event_id"] == live
            assert_nothing_more(ws)


# -- the console script, as supervisord runs it -------------------------------


def notifier_process(redis_url, database_url, port, ini=TEST_INI):
    env = dict(
        os.environ,
        STACKWATCH_WS_PORT=str(port),
        STACKWATCH_REDIS_URL=redis_url,
        STACKWATCH_DATABASE_URL=database_url,
        STACKWATCH_HTTP_PORT=str(HTTP_PORT),
    )
    return subprocess.Popen(
        [str(NOTIFIER_SCRIPT), ini], env=env, stderr=subprocess.PIPE, text=True
    )


class TestProcess:
    def test_sigterm_closes_connections_as_going_away_and_exits_0(
        self, redis_url, database_url, session_factory
    ):
        port = free_port()
        process = notifier_process(redis_url, database_url, port)
        url = f"ws://127.0.0.1:{port}/ws"
        try:
            assert eventually(lambda: _connects(url)), "the notifier did not start"
            with connect(url, origin=APP_ORIGIN) as ws:
                started = time.monotonic()
                process.send_signal(signal.SIGTERM)

                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=10)
                status = process.wait(timeout=10)
        finally:
            process.kill()
            _, stderr = process.communicate()

        assert closed.value.rcvd.code == 1001
        assert status == 0
        assert time.monotonic() - started < 5
        assert "received SIGTERM" in stderr and "stopped" in stderr
        assert "Traceback" not in stderr

    def test_refresher_cycle_reaches_a_client_of_the_app(
        self, testapp, api, app_settings, session_factory
    ):
        """As the issue is checked: a change, one ``--once`` cycle, a message."""
        api.hide_question("beer", 5)
        saved = testapp.get("/search", params={"site": "beer", "q": "beer"}, status=303)
        search_id = int(saved.headers["Location"].rsplit("/", 1)[1])
        testapp.get(f"/searches/{search_id}", params={"sort": "votes", "pagesize": 100})
        backdate_pages(session_factory)
        api.reveal_question("beer", 5)
        redis_url, database_url = (
            app_settings["redis.url"],
            app_settings["sqlalchemy.url"],
        )
        port = free_port()
        notifier = notifier_process(redis_url, database_url, port)
        url = f"ws://127.0.0.1:{port}/ws"
        try:
            assert eventually(lambda: _connects(url)), "the notifier did not start"
            with connect(url, origin=APP_ORIGIN) as ws:
                refresher = subprocess.run(
                    [str(REFRESHER_SCRIPT), TEST_INI, "--once"],
                    env=dict(
                        os.environ,
                        STACKWATCH_DATABASE_URL=database_url,
                        STACKWATCH_REDIS_URL=redis_url,
                        STACKWATCH_API_URL=api.url,
                    ),
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert refresher.returncode == 0, refresher.stderr
                got = received(ws, timeout=10)
        finally:
            notifier.terminate()
            notifier.communicate(timeout=10)

        assert got["search_id"] == search_id
        assert got["new"] == 1

    def test_sigterm_while_waiting_for_redis_exits_0_at_once(self, database_url):
        dead = f"redis://127.0.0.1:{free_port()}/0"
        process = notifier_process(dead, database_url, free_port())
        first = wait_for_line(process, "redis unreachable", timeout=20)

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)

        assert process.returncode == 0, first + stderr
        assert time.monotonic() - started < 3

    def test_exits_1_when_redis_cannot_be_reached(
        self, database_url, tmp_path, session_factory
    ):
        ini = tmp_path / "notifier.ini"
        text = (
            Path(TEST_INI)
            .read_text()
            .replace("notifier.redis_timeout = 60", "notifier.redis_timeout = 1")
        )
        ini.write_text(text.replace("%(here)s", str(Path(TEST_INI).parent)))
        dead = f"redis://127.0.0.1:{free_port()}/0"

        process = notifier_process(dead, database_url, free_port(), ini=str(ini))
        _, stderr = process.communicate(timeout=20)

        assert process.returncode == 1
        assert "giving up" in stderr


def wait_for_line(process, text, timeout):
    """Read the process's stderr up to a line containing ``text``; return it."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = process.stderr.readline()
                if text in line or not line:
                    return line
    raise AssertionError(f"no line with {text!r} within {timeout} s")


def _connects(url):
    try:
        with connect(url, origin=APP_ORIGIN, open_timeout=1):
            return True
    except OSError:
        return False
