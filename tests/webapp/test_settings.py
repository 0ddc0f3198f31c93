"""Reading the ini once: types, choices and environment overrides."""

import pytest
from pyramid.paster import get_appsettings

from webapp import settings as stackwatch_settings

PRODUCTION_INI = "production.ini"


@pytest.fixture
def raw():
    return dict(get_appsettings(PRODUCTION_INI))


def test_production_ini_holds_the_concrete_values(raw):
    settings = stackwatch_settings.parse(raw, environ={})

    assert settings.page_sizes == (25, 50, 100)
    assert settings.sorts == ("activity", "creation", "votes", "relevance")
    assert settings.cache_ttl == 60
    assert settings.refresh_interval == 600
    assert settings.api_url == "https://api.stackexchange.com/2.3"
    assert settings.api_key is None


def test_environment_overrides_the_ini(raw):
    environ = {
        "STACKWATCH_API_URL": "http://127.0.0.1:9/2.3",
        "STACKWATCH_API_KEY": "k",
        "STACKWATCH_DATABASE_URL": "sqlite:///x.sqlite",
        "STACKWATCH_REDIS_URL": "redis://127.0.0.1:7000/1",
        "STACKWATCH_WS_PORT": "7001",
    }

    settings = stackwatch_settings.parse(raw, environ=environ)

    assert settings.api_url == "http://127.0.0.1:9/2.3"
    assert settings.api_key == "k"
    assert settings.database_url == "sqlite:///x.sqlite"
    assert settings.redis_url == "redis://127.0.0.1:7000/1"
    assert settings.notifier_port == 7001


def test_http_port_comes_from_the_environment_when_set():
    assert stackwatch_settings.http_port("6543", environ={}) == 6543
    assert (
        stackwatch_settings.http_port("6543", environ={"STACKWATCH_HTTP_PORT": "8080"})
        == 8080
    )


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("cache.ttl", "soon", "cache.ttl: expected a whole number"),
        ("browse.page_sizes", "25 500", "at most 100"),
        ("browse.default_sort", "hot", "browse.default_sort"),
        ("browse.sorts", "activity hot", "unknown sort"),
        ("stackexchange.api_url", "ftp://x", "stackexchange.api_url"),
        ("redis.url", "localhost:6379", "redis.url"),
    ],
)
def test_bad_values_are_named(raw, key, value, message):
    raw[key] = value

    with pytest.raises(stackwatch_settings.SettingsError, match=message):
        stackwatch_settings.parse(raw, environ={})


def test_missing_value_is_named(raw):
    del raw["notifier.port"]

    with pytest.raises(
        stackwatch_settings.SettingsError, match="notifier.port: missing"
    ):
        stackwatch_settings.parse(raw, environ={})
