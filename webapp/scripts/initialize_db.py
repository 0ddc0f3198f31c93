"""stackwatch-initdb: create the database, or migrate it to the newest schema.

Usage: ``stackwatch-initdb production.ini``.  Safe to run again: a database
that is up to date is left as it is.  It also creates the folders that the
supervised stack writes to: ``var/log/`` beside the ini (supervisord.conf
logs there, and supervisord will not start without it) and ``redis.dir``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from pyramid.paster import get_appsettings, setup_logging
from sqlalchemy.engine import make_url

from .. import settings as stackwatch_settings
from ..models import get_engine

log = logging.getLogger(__name__)
MIGRATIONS = str(Path(__file__).resolve().parent.parent / "alembic")
# supervisord.conf, beside the ini, keeps every log in this folder.
LOG_DIR = os.path.join("var", "log")


def alembic_config(database_url: str, engine=None) -> Config:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["engine"] = engine
    return config


def migrate(database_url: str, busy_timeout: float = 30.0) -> None:
    """Bring the database at ``database_url`` to the newest revision."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (
        None,
        "",
        ":memory:",
    ):
        # A fresh clone has no var/ yet.
        os.makedirs(os.path.dirname(os.path.abspath(url.database)), exist_ok=True)
    engine = get_engine(database_url, busy_timeout)
    try:
        command.upgrade(alembic_config(database_url, engine), "head")
    finally:
        engine.dispose()


def create_runtime_dirs(here: str, settings: stackwatch_settings.Settings) -> None:
    """Create ``var/log`` under ``here`` (the ini's folder) and Redis's data folder."""
    for path in (os.path.join(here, LOG_DIR), settings.redis_dir):
        os.makedirs(path, exist_ok=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config_uri", help="the ini file, e.g. production.ini")
    args = parser.parse_args(argv)

    setup_logging(args.config_uri)
    try:
        raw = get_appsettings(args.config_uri)
        settings = stackwatch_settings.parse(raw)
    except stackwatch_settings.SettingsError as exc:
        print(f"stackwatch-initdb: {exc}", file=sys.stderr)
        return 2
    create_runtime_dirs(raw.global_conf["here"], settings)
    log.info(
        "migrating %s",
        make_url(settings.database_url).render_as_string(hide_password=True),
    )
    migrate(settings.database_url, settings.sqlite_busy_timeout)
    log.info("database is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
