"""Database models, the engine and the per-request session.

``includeme`` wires a transaction-bound SQLAlchemy session into every request
as ``request.dbsession``; the daemons use :func:`get_engine` and
:func:`get_session_factory` directly.
"""

import zope.sqlalchemy
from sqlalchemy import engine_from_config, event
from sqlalchemy.orm import configure_mappers, sessionmaker

from .api_state import APIBackoff, APIQuota  # noqa: F401
from .meta import Base  # noqa: F401
from .question import Owner, Question, QuestionTag, Tag  # noqa: F401
from .refresh import Event, Refresh, RefreshLock  # noqa: F401
from .search import ResultPage, SavedSearch, SearchOrdering, SearchResult  # noqa: F401
from .site import Site  # noqa: F401

configure_mappers()


def get_engine(database_url: str, busy_timeout: float = 30.0, **options):
    """Create the engine, with SQLite set up for concurrent writers."""
    # A page can hold two connections at once (its own and a short write),
    # so the pool must outgrow the server's threads: SQLAlchemy's default of
    # 5 + 10 made busy threads wait the pool's 30 s for a connection.
    options.setdefault("pool_size", 10)
    options.setdefault("max_overflow", 10)
    engine = engine_from_config(
        {"sqlalchemy.url": database_url}, prefix="sqlalchemy.", **options
    )
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, busy_timeout)
    return engine


def _configure_sqlite(engine, busy_timeout: float) -> None:
    # WAL lets readers go on while the refresher writes; the busy timeout
    # makes a second writer wait instead of failing with "database is
    # locked".  Foreign keys are off by default in SQLite.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL only risks the last commits on power loss, never
        # corruption, and saves an fsync per commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    # pysqlite would open transactions itself, lazily; take that over so
    # that writers can ask for BEGIN IMMEDIATE (see services.storage) and
    # queue on the busy timeout instead of failing half-way through.
    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        mode = connection.get_execution_options().get("sqlite_begin", "")
        connection.exec_driver_sql(f"BEGIN {mode}".strip())


def get_session_factory(engine):
    return sessionmaker(bind=engine, expire_on_commit=False)


def get_tm_session(session_factory, transaction_manager, request=None):
    """A session joined to ``transaction_manager``: committed or aborted with it."""
    dbsession = session_factory(info={"request": request})
    zope.sqlalchemy.register(dbsession, transaction_manager=transaction_manager)
    return dbsession


def includeme(config):
    settings = config.registry.stackwatch
    config.include("pyramid_tm")

    engine = get_engine(settings.database_url, settings.sqlite_busy_timeout)
    session_factory = get_session_factory(engine)
    config.registry["dbsession_factory"] = session_factory
    config.registry["dbengine"] = engine

    def dbsession(request):
        # The test suite may hand in a session of its own through the environ.
        session = request.environ.get("app.dbsession")
        if session is None:
            session = get_tm_session(session_factory, request.tm, request=request)
        return session

    config.add_request_method(dbsession, reify=True)
