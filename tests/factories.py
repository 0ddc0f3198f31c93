"""Rows the storage tests start from, written through the app's own services."""

import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from webapp.models import Site
from webapp.services import searches
from webapp.services.storage import write_session

CORPUS = Path(__file__).resolve().parent / "sedouble" / "data" / "questions.jsonl"


def corpus_items(site: str = "stackoverflow") -> list[dict]:
    """The recorded questions of one site, as the API double serves them."""
    with open(CORPUS, encoding="utf-8") as corpus:
        items = [json.loads(line) for line in corpus]
    return [item for item in items if item["site"] == site]


def run_search(testapp, **params) -> str:
    """Submit the new-search form (Stack Overflow unless a site is given);
    return the path of the results page it redirects to."""
    params.setdefault("site", "stackoverflow")
    response = testapp.get("/search", params=params, status=303)
    return response.headers["Location"].replace("http://localhost", "")


def saved_searches(session_factory, *queries: str) -> list[int]:
    """Stack Overflow, and one saved search for each query text."""
    with write_session(session_factory) as session:
        session.add(
            Site(
                api_name="stackoverflow",
                name="Stack Overflow",
                site_url="https://stackoverflow.com",
                site_type="main_site",
                fetched_at=datetime(2026, 1, 1),
            )
        )
    with session_factory() as session:
        site = session.scalar(select(Site))
    return [searches.save_search(session_factory, site, {"q": q}) for q in queries]
