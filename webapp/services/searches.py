"""Saved searches: checking and normalising what a user typed, and saving it.

A search is a site plus the parameters of the API's ``/search/advanced``.
Parameters are normalised (whitespace collapsed, tags lower-cased and sorted,
booleans and numbers in one spelling, dates as ISO days) and serialised to a
canonical JSON key, so the same search typed twice is stored once.
"""

from __future__ import annotations

import hashlib
import json
import re
from calendar import timegm
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..models import SavedSearch, Site
from .api_state import utcnow
from .storage import upsert, write_session

MAX_TEXT = 500
MAX_TAGS = 5
_TAG = re.compile(r"^[a-z0-9][a-z0-9+#.\-]{0,34}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
# Control characters, DEL and the bidirectional overrides and isolates,
# which would turn the rest of a page's text around.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_BOOLEANS = {
    "true": True,
    "yes": True,
    "1": True,
    "false": False,
    "no": False,
    "0": False,
}


class InvalidSearchError(ValueError):
    """A search parameter has a value the API would not accept."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Filter:
    name: str
    label: str
    kind: str  # text, tags, bool, count, user, date
    help: str = ""


# The advanced filters of /search/advanced that the form offers, in order.
FILTERS = (
    Filter("q", "Text", "text", "words anywhere in the question"),
    Filter("title", "In title", "text", "text that must be in the title"),
    Filter("body", "In body", "text", "text that must be in the body"),
    Filter("tagged", "Tagged", "tags", "any of these tags, separated by ; or spaces"),
    Filter("nottagged", "Not tagged", "tags", "none of these tags"),
    Filter("accepted", "Accepted answer", "bool"),
    Filter("closed", "Closed", "bool"),
    Filter("answers", "At least answers", "count"),
    Filter("views", "At least views", "count"),
    Filter("user", "Asked by user id", "user"),
    Filter("fromdate", "Created from", "date"),
    Filter("todate", "Created to", "date"),
)
FILTER_NAMES = tuple(f.name for f in FILTERS)


def normalize(raw: Mapping[str, str]) -> dict[str, Any]:
    """Check and normalise the filter values in ``raw``; empty ones are dropped.

    Raises:
        InvalidSearchError: naming the first bad field.
    """
    params: dict[str, Any] = {}
    for spec in FILTERS:
        value = str(raw.get(spec.name, "") or "").strip()
        if value:
            params[spec.name] = _NORMALIZERS[spec.kind](spec.name, value)
    params = {k: v for k, v in params.items() if v not in (None, "", [])}

    if (
        "fromdate" in params
        and "todate" in params
        and params["fromdate"] > params["todate"]
    ):
        raise InvalidSearchError("todate", "must not be before the from date")
    if "nottagged" in params and len(params) == 1:
        raise InvalidSearchError(
            "nottagged", "needs at least one other filter or some text"
        )
    if not params:
        raise InvalidSearchError("q", "type some text or choose at least one filter")
    return params


def params_key(params: dict[str, Any]) -> str:
    """The canonical spelling of normalised parameters."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def api_params(params: dict[str, Any]) -> dict[str, Any]:
    """Normalised parameters as the API wants them (dates as epoch seconds)."""
    converted = dict(params)
    for name in ("fromdate", "todate"):
        if name in converted:
            day = date.fromisoformat(converted[name])
            seconds = timegm(day.timetuple())
            # The to-date includes the whole day it names.
            converted[name] = seconds + 86399 if name == "todate" else seconds
    return converted


def describe(params: dict[str, Any]) -> str:
    """A short human description of the filters other than the text."""
    parts = []
    for spec in FILTERS:
        name, value = spec.name, params.get(spec.name)
        if name == "q" or value is None:
            continue
        if isinstance(value, list):
            value = ", ".join(value)
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        parts.append(f"{spec.label}: {value}")
    return "; ".join(parts)


def save_search(
    session_factory: sessionmaker[Session], site: Site, params: dict[str, Any]
) -> int:
    """Store the search, or mark the existing identical one as run again."""
    key = params_key(params)
    now = utcnow()
    with write_session(session_factory) as session:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        values = dict(
            site_id=site.id,
            params_key=key,
            params_hash=digest,
            query=_display_query(params),
            created_at=now,
            last_run_at=now,
            row_count=0,
        )
        upsert(
            session,
            SavedSearch,
            values,
            ["site_id", "params_hash"],
            update=["last_run_at"],
        )
        found = select(SavedSearch.id).where(
            SavedSearch.site_id == site.id, SavedSearch.params_hash == digest
        )
        return session.scalar(found)


def search_params(search: SavedSearch) -> dict[str, Any]:
    return json.loads(search.params_key)


def is_number(text: str) -> bool:
    """Plain ASCII digits: ``str.isdigit`` also takes "²" and "①", which
    ``int`` refuses."""
    return text.isascii() and text.isdigit()


def printable(text: str) -> str:
    """``text`` without the characters normalize refuses, for echoing back."""
    return _UNPRINTABLE.sub("", text)


def _display_query(params: dict[str, Any]) -> str:
    return params.get("q") or params.get("title") or " ".join(params.get("tagged", []))


def _text(name: str, value: str) -> str:
    value = " ".join(value.split())
    if len(value) > MAX_TEXT:
        raise InvalidSearchError(name, f"is longer than {MAX_TEXT} characters")
    if _UNPRINTABLE.search(value):
        raise InvalidSearchError(name, "contains control or text-direction characters")
    return value


def _tags(name: str, value: str) -> list[str]:
    tags = sorted({t for t in re.split(r"[;,\s]+", value.lower()) if t})
    if len(tags) > MAX_TAGS:
        raise InvalidSearchError(name, f"at most {MAX_TAGS} tags")
    for tag in tags:
        if not _TAG.match(tag):
            raise InvalidSearchError(name, f"{tag[:40]!r} is not a tag name")
    return tags


def _bool(name: str, value: str) -> bool | None:
    if value.lower() in ("", "any"):
        return None
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        raise InvalidSearchError(name, "must be yes, no or any") from None


def _count(name: str, value: str) -> int:
    if not is_number(value) or len(value) > 9:
        raise InvalidSearchError(name, "must be a whole number from 0 to 999999999")
    return int(value)


def _user(name: str, value: str) -> int:
    if not is_number(value) or len(value) > 12 or int(value) == 0:
        raise InvalidSearchError(name, "must be a numeric user id")
    return int(value)


def _date(name: str, value: str) -> str:
    try:
        # fromisoformat alone would also take week dates like 2015-W01-1.
        if not _DAY.match(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidSearchError(name, "must be a date written YYYY-MM-DD") from None
    if day > utcnow().date():
        raise InvalidSearchError(name, "is in the future")
    if day.year < 2008:
        raise InvalidSearchError(name, "is before Stack Exchange existed (2008)")
    return day.isoformat()


_NORMALIZERS = {
    "text": _text,
    "tags": _tags,
    "bool": _bool,
    "count": _count,
    "user": _user,
    "date": _date,
}
