"""Shared start-up of the StackWatch daemons.

Each daemon takes the ini path (supervisord gives all of them the same
``production.ini``), configures logging from it and reads the typed settings
of its ``[app:main]`` section, with the environment overrides applied.
"""

from __future__ import annotations

import argparse
import sys

from pyramid.paster import get_appsettings, setup_logging

from webapp import settings as stackwatch_settings


def load(config_uri: str) -> stackwatch_settings.Settings:
    """Configure logging from ``config_uri`` and return its typed settings.

    Exits with status 2, naming the key, when a setting is bad.
    """
    setup_logging(config_uri)
    try:
        return stackwatch_settings.parse(get_appsettings(config_uri))
    except stackwatch_settings.SettingsError as exc:
        print(f"{sys.argv[0]}: bad setting in {config_uri}: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def argument_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("config_uri", help="the ini file, e.g. production.ini")
    return parser
