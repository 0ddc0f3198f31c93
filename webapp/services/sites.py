"""The list of Stack Exchange sites, fetched from ``/sites`` and stored.

The list changes a few times a year, so it is fetched when it is missing or
older than ``stackexchange.sites_ttl``; if the API cannot be reached the
stored list is used as it is.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ..models import Site
from .api_state import utcnow
from .stackexchange import StackExchangeClient, StackExchangeError
from .storage import upsert, write_session

log = logging.getLogger(__name__)

SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]{0,99}$")


def sites_are_stale(session: Session, ttl: int) -> bool:
    # The newest row dates the last fetch of the list: rows for sites the
    # list lacked are dated long ago and must not make it look stale.
    newest = session.scalar(select(func.max(Site.fetched_at)))
    return newest is None or utcnow() - newest > timedelta(seconds=ttl)


def refresh_sites(
    session_factory: sessionmaker[Session], client: StackExchangeClient, ttl: int
) -> StackExchangeError | None:
    """Fetch ``/sites`` when the stored list is missing or stale.

    Returns the error that stopped the fetch, if any; the stored list stays.
    """
    with session_factory() as session:
        if not sites_are_stale(session, ttl):
            return None
    try:
        items = client.sites()
    except StackExchangeError as exc:
        log.warning("could not fetch the list of sites: %s", exc)
        return exc

    now = utcnow()
    rows = [_site_row(item, now) for item in items if item.get("api_site_parameter")]
    with write_session(session_factory) as session:
        upsert(session, Site, rows, ["api_name"])
    return None


def find_site(session: Session, name: str) -> Site | None:
    """The stored site called ``name``: its API name or its host name."""
    name = name.strip().lower()
    site = session.scalar(select(Site).where(Site.api_name == name))
    if site is None and "." in name:
        host = urlsplit(name if "//" in name else f"//{name}").hostname or ""
        for candidate in (f"https://{host}", f"http://{host}"):
            site = session.scalar(select(Site).where(Site.site_url == candidate))
            if site is not None:
                break
    return site


def ensure_site(session_factory: sessionmaker[Session], name: str) -> Site:
    """A row for a site the stored list does not know (the list was unavailable)."""
    # Dated long ago, so the next successful /sites fetch replaces it.
    values = dict(
        api_name=name,
        name=name,
        site_url=f"https://{name}.stackexchange.com",
        site_type=None,
        fetched_at=datetime(2000, 1, 1),
    )
    with write_session(session_factory) as session:
        upsert(session, Site, values, ["api_name"], update=[])
        return session.scalar(select(Site).where(Site.api_name == name))


def list_sites(session: Session) -> list[Site]:
    """Main sites first, by name, then the metas."""
    sites = session.scalars(select(Site).order_by(Site.name)).all()
    return sorted(sites, key=lambda s: (s.site_type == "meta_site", s.name.lower()))


def _site_row(item: dict, now) -> dict:
    return dict(
        api_name=item["api_site_parameter"],
        name=html.unescape(item.get("name") or item["api_site_parameter"]),
        site_url=item.get("site_url") or "",
        site_type=item.get("site_type"),
        fetched_at=now,
    )
