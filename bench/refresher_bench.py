"""Refresher benchmark: API calls and wall time of one cycle, by number of searches.

Starts on loopback the API test double, a Redis server and a fresh SQLite
database (or the PostgreSQL database given with ``--database-url``).  For
each size it saves that many searches through the services, with distinct
parameters over three sites of the double, and stores the first API page of
each (votes, 100 rows) with ``ensure_rows`` as a view would, then makes
those pages look two minutes old and changes the score of a few questions.
It then runs one cycle twice over the same searches:

* as configured: production.ini's pace (calls per second) and budget (calls
  per cycle);
* unlimited: no pacing and no budget, which shows what the refresher itself
  costs per search (fetch, store, events, cache purge, publish).

Prints searches refreshed, API calls, wall time and time per search for
each.  Usage:

    .venv/bin/python bench/refresher_bench.py [--sizes 10 100 1000]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from pyramid.paster import get_appsettings
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sedouble import SEDouble  # noqa: E402
from tests.servers import RedisServer  # noqa: E402
from webapp import settings as stackwatch_settings  # noqa: E402
from webapp.models import ResultPage, SavedSearch, get_engine, get_session_factory  # noqa: E402
from webapp.scripts.initialize_db import migrate  # noqa: E402
from webapp.services import results, searches, sites  # noqa: E402
from webapp.services.redis_link import RedisLink  # noqa: E402
from webapp.services.refresh import Refresher  # noqa: E402
from webapp.services.stackexchange import StackExchangeClient  # noqa: E402
from webapp.services.storage import write_session  # noqa: E402

INI = str(ROOT / "production.ini")
# An app key lifts the double's quota from 300 to 10,000 calls a day.
KEY = "bench-key"
QUERIES = (("beer", "beer"), ("stackoverflow", "python"), ("matheducators", "students"))
CLIMBERS = 20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--database-url", help="an empty database; default: SQLite")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp, SEDouble() as api:
        redis_server = RedisServer(Path(tmp) / "redis").start()
        try:
            url = args.database_url or f"sqlite:///{tmp}/bench.sqlite"
            migrate(url)
            settings = _settings(api.url, url, redis_server.url)
            engine = get_engine(url)
            print(
                f"database: {engine.dialect.name}; configured pace "
                f"{settings.refresh_pace:g}/s, budget {settings.refresh_budget}"
            )
            print(
                f"{'searches':>8}  {'run':<11}{'refreshed':>9}{'calls':>7}"
                f"{'wall s':>9}{'ms/search':>11}"
            )
            for size in args.sizes:
                _bench(size, settings, engine, api, redis_server)
            engine.dispose()
        finally:
            redis_server.stop()
    return 0


def _settings(api_url: str, database_url: str, redis_url: str):
    raw = dict(get_appsettings(INI))
    raw.update(
        {
            "stackexchange.api_url": api_url,
            "stackexchange.key": KEY,
            "sqlalchemy.url": database_url,
            "redis.url": redis_url,
        }
    )
    return stackwatch_settings.parse(raw, environ={})


def _bench(size, settings, engine, api, redis_server) -> None:
    session_factory = get_session_factory(engine)
    for label, options in (
        ("configured", {}),
        ("unlimited", {"pace": 0, "budget": 10**9}),
    ):
        _empty(engine)
        api.reset()
        redis_server.client().flushall()
        _seed(size, session_factory, StackExchangeClient(api.url, key=KEY), api)
        api.clear_calls()

        link = RedisLink(settings.redis_url, 1.0)
        refresher = Refresher.from_settings(settings, session_factory, link, **options)
        began = time.perf_counter()
        report = refresher.run_cycle(once=True)
        wall = time.perf_counter() - began
        link.client.close()

        calls = len([c for c in api.calls if c.path.endswith("/search/advanced")])
        per_search = 1000 * wall / max(report.refreshed, 1)
        print(
            f"{size:>8}  {label:<11}{report.refreshed:>9}{calls:>7}"
            f"{wall:>9.2f}{per_search:>11.1f}"
        )


def _seed(size: int, session_factory, client: StackExchangeClient, api) -> None:
    """Save ``size`` searches and store their first page, as if viewed a while ago."""
    sites.refresh_sites(session_factory, client, ttl=86400)
    with session_factory() as session:
        by_name = {name: sites.find_site(session, name) for name, _ in QUERIES}
    for i in range(size):
        site, word = QUERIES[i % len(QUERIES)]
        params = searches.normalize({"q": word, "views": str(i // len(QUERIES))})
        search_id = searches.save_search(session_factory, by_name[site], params)
        results.ensure_rows(session_factory, client, search_id, "votes", "desc", 1, 100)

    # Two minutes later, a few questions have climbed.
    with write_session(session_factory) as session:
        for page in session.scalars(select(ResultPage)):
            page.fetched_at -= timedelta(seconds=120)
        for search in session.scalars(select(SavedSearch)):
            search.last_viewed_at -= timedelta(seconds=120)
    for site, word in QUERIES:
        found = client.search_advanced(site, {"q": word}, "votes", "asc", 1).items
        for item in found[: CLIMBERS // len(QUERIES)]:
            api.set_question(site, item["question_id"], score=100_000)


def _empty(engine) -> None:
    from webapp.models import Base

    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


if __name__ == "__main__":
    sys.exit(main())
