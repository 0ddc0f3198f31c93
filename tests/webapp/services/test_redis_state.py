"""RedisState: API backoffs shared through Redis, with the database as fallback."""

import time

import pytest

from webapp.services.api_state import DatabaseState, RedisState
from webapp.services.redis_link import RedisLink


@pytest.fixture
def new_state(redis_url, session_factory):
    """Makes a RedisState as one more process would have it: its own link."""

    def make():
        return RedisState(
            RedisLink(redis_url, timeout=0.25), DatabaseState(session_factory)
        )

    return make


def test_backoff_set_by_one_process_holds_for_another(new_state):
    web, refresher = new_state(), new_state()
    when = time.time() + 30

    web.set_not_before("search/advanced", when)

    assert refresher.not_before("search/advanced") == pytest.approx(when)
    assert refresher.not_before("sites") is None


def test_backoff_is_kept_in_redis(new_state, redis_server):
    when = time.time() + 30

    new_state().set_not_before("search/advanced", when)

    score = redis_server.client().zscore(RedisState.KEY, "search/advanced")
    assert score == pytest.approx(when)


def test_later_backoff_wins(new_state):
    state = new_state()
    later = time.time() + 60

    state.set_not_before("search/advanced", later)
    state.set_not_before("search/advanced", later - 30)

    assert state.not_before("search/advanced") == pytest.approx(later)


def test_backoff_is_read_from_the_database_while_redis_is_down(new_state, redis_server):
    web, refresher = new_state(), new_state()
    redis_server.stop()
    when = time.time() + 30

    web.set_not_before("search/advanced", when)

    assert refresher.not_before("search/advanced") == pytest.approx(when)


def test_backoff_recorded_during_an_outage_reaches_redis_after_it(
    new_state, redis_server
):
    web, refresher = new_state(), new_state()
    refresher.not_before("sites")
    redis_server.stop()
    when = time.time() + 30
    web.set_not_before("search/advanced", when)
    refresher.not_before("search/advanced")

    redis_server.start()
    time.sleep(1.1)
    refresher.not_before("sites")

    score = redis_server.client().zscore(RedisState.KEY, "search/advanced")
    assert score == pytest.approx(when)


def test_new_process_refills_an_emptied_redis(new_state, redis_server):
    when = time.time() + 30
    new_state().set_not_before("search/advanced", when)
    redis_server.client().flushall()

    found = new_state().not_before("search/advanced")

    assert found == pytest.approx(when)


def test_quota_stays_in_the_database(new_state, session_factory):
    new_state().record_quota("anonymous", 300, 120)

    assert DatabaseState(session_factory).quota("anonymous") == (300, 120)
