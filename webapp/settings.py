"""Typed settings, read once from the ini file.

Every part of StackWatch (the web app and the daemons) turns the raw
``[app:main]`` dict into a :class:`Settings` here, so a missing or malformed
value stops the program at start-up with the key named.  The environment
variables in ``ENV_OVERRIDES`` win over the ini when they are set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

ENV_OVERRIDES = {
    "STACKWATCH_API_URL": "stackexchange.api_url",
    "STACKWATCH_API_KEY": "stackexchange.key",
    "STACKWATCH_DATABASE_URL": "sqlalchemy.url",
    "STACKWATCH_REDIS_URL": "redis.url",
    "STACKWATCH_WS_PORT": "notifier.port",
}
HTTP_PORT_VARIABLE = "STACKWATCH_HTTP_PORT"
API_SORTS = ("activity", "creation", "votes", "relevance")
ORDERS = ("desc", "asc")


class SettingsError(ValueError):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    sqlite_busy_timeout: float
    redis_url: str
    redis_dir: str
    api_url: str
    api_key: str | None
    default_site: str
    connect_timeout: float
    read_timeout: float
    total_timeout: float
    max_wait: float
    sites_ttl: int
    page_sizes: tuple[int, ...]
    default_page_size: int
    sorts: tuple[str, ...]
    default_sort: str
    default_order: str
    list_sorts: tuple[str, ...]
    list_default_sort: str
    cache_ttl: int
    cache_timeout: float
    refresh_interval: int
    refresh_pace: float
    refresh_budget: int
    quota_reserve: int
    lock_ttl: int
    channel: str
    notifier_host: str
    notifier_port: int
    notifier_public_url: str
    allowed_origins: tuple[str, ...]


def apply_environment(raw: dict, environ=None) -> dict:
    """Return a copy of ``raw`` with the environment overrides applied."""
    environ = os.environ if environ is None else environ
    merged = dict(raw)
    for variable, key in ENV_OVERRIDES.items():
        if environ.get(variable):
            merged[key] = environ[variable]
    return merged


def http_port(configured, environ=None) -> int:
    """The web server's port: ``STACKWATCH_HTTP_PORT`` or the ini's value."""
    environ = os.environ if environ is None else environ
    value = environ.get(HTTP_PORT_VARIABLE) or configured
    return _to_int(HTTP_PORT_VARIABLE, value, minimum=1)


def parse(raw: dict, environ=None) -> Settings:
    """Convert the raw ini values once, naming the key of any bad value."""
    raw = apply_environment(raw, environ)
    get = _Reader(raw)
    sorts = get.words("browse.sorts")
    page_sizes = tuple(
        get.int_word(w, "browse.page_sizes") for w in get.words("browse.page_sizes")
    )
    settings = Settings(
        database_url=get.text("sqlalchemy.url"),
        sqlite_busy_timeout=get.number("sqlite.busy_timeout", "30"),
        redis_url=get.url("redis.url", ("redis", "rediss", "unix")),
        redis_dir=get.text("redis.dir", "var/redis"),
        api_url=get.url("stackexchange.api_url", ("http", "https")).rstrip("/"),
        api_key=get.text("stackexchange.key", "") or None,
        default_site=get.text("stackexchange.default_site", "stackoverflow"),
        connect_timeout=get.number("stackexchange.connect_timeout", "5"),
        read_timeout=get.number("stackexchange.read_timeout", "20"),
        total_timeout=get.number("stackexchange.total_timeout", "25"),
        max_wait=get.number("stackexchange.max_wait", "2"),
        sites_ttl=get.integer("stackexchange.sites_ttl", "86400"),
        page_sizes=page_sizes,
        default_page_size=get.integer("browse.default_page_size"),
        sorts=sorts,
        default_sort=get.text("browse.default_sort"),
        default_order=get.text("browse.default_order", "desc"),
        list_sorts=get.words("browse.list_sorts", "created"),
        list_default_sort=get.text("browse.list_default_sort", "created"),
        cache_ttl=get.integer("cache.ttl", "60"),
        cache_timeout=get.number("cache.timeout", "0.25"),
        refresh_interval=get.integer("refresher.interval", "600"),
        refresh_pace=get.number("refresher.pace", "5"),
        refresh_budget=get.integer("refresher.budget", "200"),
        quota_reserve=get.integer("refresher.quota_reserve", "20", minimum=0),
        lock_ttl=get.integer("refresher.lock_ttl", "300"),
        channel=get.text("refresher.channel", "stackwatch:updates"),
        notifier_host=get.text("notifier.host", "127.0.0.1"),
        notifier_port=get.integer("notifier.port"),
        notifier_public_url=get.text("notifier.public_url", ""),
        allowed_origins=get.words("notifier.allowed_origins", ""),
    )
    _check_choices(settings)
    return settings


def _check_choices(settings: Settings) -> None:
    unknown = set(settings.sorts) - set(API_SORTS)
    if unknown:
        raise SettingsError(
            f"browse.sorts: unknown sort(s) {sorted(unknown)}; allowed: {API_SORTS}"
        )
    if settings.default_sort not in settings.sorts:
        raise SettingsError("browse.default_sort must be one of browse.sorts")
    if settings.default_page_size not in settings.page_sizes:
        raise SettingsError("browse.default_page_size must be one of browse.page_sizes")
    if any(size > 100 for size in settings.page_sizes):
        raise SettingsError("browse.page_sizes: the API serves at most 100 rows a page")
    if settings.default_order not in ORDERS:
        raise SettingsError(f"browse.default_order must be one of {ORDERS}")
    if settings.list_default_sort not in settings.list_sorts:
        raise SettingsError("browse.list_default_sort must be one of browse.list_sorts")


def _to_int(key: str, value, minimum: int = 1) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SettingsError(f"{key}: expected a whole number, got {value!r}") from None
    if number < minimum:
        raise SettingsError(f"{key}: must be at least {minimum}, got {number}")
    return number


class _Reader:
    """Small typed accessors over the raw settings dict."""

    def __init__(self, raw: dict):
        self._raw = raw

    def text(self, key: str, default: str | None = None) -> str:
        value = self._raw.get(key, default)
        if value is None:
            raise SettingsError(f"{key}: missing from the ini file")
        return str(value).strip()

    def words(self, key: str, default: str | None = None) -> tuple[str, ...]:
        return tuple(self.text(key, default).replace(",", " ").split())

    def integer(self, key: str, default: str | None = None, minimum: int = 1) -> int:
        return _to_int(key, self.text(key, default), minimum)

    def int_word(self, word: str, key: str) -> int:
        return _to_int(key, word)

    def number(self, key: str, default: str | None = None) -> float:
        value = self.text(key, default)
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(f"{key}: expected a number, got {value!r}") from None
        if number < 0:
            raise SettingsError(f"{key}: must not be negative")
        return number

    def url(self, key: str, schemes: tuple[str, ...]) -> str:
        value = self.text(key)
        if urlsplit(value).scheme not in schemes:
            raise SettingsError(
                f"{key}: expected a {'/'.join(schemes)} URL, got {value!r}"
            )
        return value
