"""RedisLink: one warning per outage, and no traffic to a dead Redis."""

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from tests.servers import free_port
from webapp.services.redis_link import RedisLink, redis_address

LOGGER = "webapp.services.redis_link"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_commands_run_while_redis_is_up(redis_url):
    link = RedisLink(redis_url, timeout=0.25)

    assert link.run(lambda r: r.set("k", "v"), None) is True
    assert link.run(lambda r: r.get("k"), None) == b"v"


def test_failure_answers_the_default_and_warns_once(clock, caplog):
    link = RedisLink(f"redis://127.0.0.1:{free_port()}/0", timeout=0.25, clock=clock)

    answers = []
    for _ in range(3):
        answers.append(link.run(lambda r: r.get("k"), "default"))
        clock.now += 1.5

    assert answers == ["default"] * 3
    assert link.is_down
    assert [r.levelname for r in caplog.records if r.name == LOGGER] == ["WARNING"]


def test_dead_redis_is_left_alone_until_the_retry_interval(clock):
    link = RedisLink(f"redis://127.0.0.1:{free_port()}/0", timeout=0.25, clock=clock)
    link.run(lambda r: r.ping(), None)
    tries = []

    def probe(client):
        tries.append(clock.now)
        return client.ping()

    link.run(probe, None)
    clock.now += 1.0
    link.run(probe, None)
    link.run(probe, None)

    assert tries == [1001.0]


def test_recovery_logs_once_and_counts_the_outage(
    redis_server, redis_url, clock, caplog
):
    link = RedisLink(redis_url, timeout=0.25, clock=clock)
    link.run(lambda r: r.ping(), None)
    redis_server.stop()
    link.run(lambda r: r.ping(), None)
    redis_server.start()
    clock.now += 1.0

    with caplog.at_level(logging.INFO, logger=LOGGER):
        answers = [link.run(lambda r: r.ping(), False) for _ in range(2)]

    assert answers == [True, True]
    assert not link.is_down
    assert link.outages == 1
    assert [r.levelname for r in caplog.records if r.name == LOGGER] == [
        "WARNING",
        "INFO",
    ]


def test_non_connection_errors_count_as_outages_too(redis_url, clock):
    link = RedisLink(redis_url, timeout=0.25, clock=clock)

    def broken(client):
        raise redis.ResponseError("OOM command not allowed")

    assert link.run(broken, "default") == "default"
    assert link.is_down


@pytest.mark.parametrize(
    "url, address",
    [
        ("redis://:secret@10.0.0.5:6400/1", "10.0.0.5:6400"),
        ("redis://localhost/0", "localhost:6379"),
        ("unix:///run/redis.sock", "/run/redis.sock"),
    ],
)
def test_address_for_logs_has_no_password(url, address):
    assert redis_address(url) == address


def test_execute_runs_a_raw_command_on_the_thread_connection(redis_url):
    link = RedisLink(redis_url, timeout=0.25)
    link.run(lambda r: r.set("k", "v"), None)

    assert link.execute("MGET", "k", "missing", default=None) == [b"v", None]
    assert link.execute("MGET", "k", default=None) == [b"v"]


def test_execute_answers_the_default_while_redis_is_down(
    redis_server, redis_url, caplog
):
    link = RedisLink(redis_url, timeout=0.25)
    link.execute("PING", default=None)
    redis_server.stop()

    answer = link.execute("PING", default="default")

    assert answer == "default"
    assert link.is_down
    assert [r.levelname for r in caplog.records if r.name == LOGGER] == ["WARNING"]


def test_every_thread_reconnects_after_an_outage(redis_server, redis_url, clock):
    link = RedisLink(redis_url, timeout=0.25, clock=clock)
    in_thread = ThreadPoolExecutor(max_workers=1)
    in_thread.submit(link.execute, "PING", default=None).result()
    link.execute("PING", default=None)
    redis_server.restart()
    link.execute("PING", default=None)
    clock.now += 1.0

    answer = in_thread.submit(link.execute, "PING", default=None).result()

    in_thread.shutdown()
    assert answer == b"PONG"
    assert not link.is_down
