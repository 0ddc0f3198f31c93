"""The double's API methods: parameter checks, matching, sorting and paging.

Each method takes the store, the resolved site and the request parameters
(a plain ``dict`` of strings, empty values already dropped) and returns a
``Page`` of stored objects, or raises ``APIError``. The server turns both
into wire responses.

Matching is deliberately simple, since the real algorithm is undocumented:

* Text is lowercased, HTML entities are decoded, markup is removed from
  bodies, and it is split into words: runs of letters and digits, keeping a
  trailing ``#`` or ``+`` (``c#``, ``c++``). There is no stemming and there
  are no stop words or query operators.
* ``q`` (``/search/advanced``) matches a question when every word of ``q`` is
  a word of its title, of its body, or of its tags (a tag counts whole and
  split at dashes, so ``ruby-on-rails`` also gives ``ruby``, ``on``,
  ``rails``).
* ``sort=relevance`` scores a question by how many distinct query words are
  in its title plus how many are in its tags, so a word found in both counts
  twice. The query words are ``q`` for ``/search/advanced``, ``intitle`` for
  ``/search`` and ``title`` for ``/similar``.
* ``/similar`` keeps the questions whose title or tags share at least one
  non-trivial word with ``title``; each ``tagged`` tag a question carries adds
  one to its score.
* ``title``, ``intitle`` and ``body`` are case-insensitive substrings of the
  decoded title or the body text.

Every method sorts by ``activity`` in ``desc`` order unless asked otherwise.
Ties in every sort are broken by ``question_id`` in the same direction as the
sort, so results never depend on load order. ``fromdate`` and ``todate``
bound ``creation_date`` (inclusive); ``min`` and ``max`` bound the sort field
and are ignored for ``relevance``, where the API does not accept them. Dates
are epoch seconds or ``YYYY-MM-DD[ HH:MM:SS]`` in UTC.
"""

import datetime
import math
from collections.abc import Callable
from dataclasses import dataclass

from .store import QuestionStore, Searchable, words

MAX_PAGESIZE = 100
DEFAULT_PAGESIZE = 30
ANONYMOUS_PAGE_LIMIT = 25
MAX_IDS = 100

SORT_FIELDS = {
    "activity": "last_activity_date",
    "creation": "creation_date",
    "votes": "score",
}
SEARCH_SORTS = frozenset(SORT_FIELDS) | {"relevance"}
ID_SORTS = frozenset(SORT_FIELDS)

ERROR_NAMES = {
    400: "bad_parameter",
    401: "access_token_required",
    402: "invalid_access_token",
    403: "access_denied",
    404: "no_method",
    405: "key_required",
    406: "access_token_compromised",
    500: "internal_error",
    502: "throttle_violation",
    503: "temporarily_unavailable",
}

# Words too common to make two titles "similar" on their own.
_SIMILAR_IGNORED = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "get",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "my",
        "not",
        "of",
        "on",
        "or",
        "the",
        "this",
        "to",
        "use",
        "using",
        "what",
        "when",
        "where",
        "which",
        "why",
        "with",
        "you",
    ]
)

Check = Callable[[dict, Searchable], bool]


class APIError(Exception):
    """An error the API reports in its body (always under HTTP 400)."""

    def __init__(self, error_id: int, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.error_name = ERROR_NAMES[error_id]
        self.message = message

    def body(self) -> dict:
        """Return the error wrapper, keys in the order the API sends them."""
        return {
            "error_id": self.error_id,
            "error_message": self.message,
            "error_name": self.error_name,
        }


def bad_parameter(name: str) -> APIError:
    """The API names the offending parameter and nothing else."""
    return APIError(400, name)


@dataclass
class Page:
    """One page of results before it is shaped by a filter."""

    items: list[dict]
    has_more: bool
    total: int
    type: str = "question"


@dataclass
class _Listing:
    """The sorting, bounds and paging parameters every method shares."""

    sort: str
    descending: bool
    low: int | None
    high: int | None
    fromdate: int | None
    todate: int | None
    page: int
    pagesize: int


def search_advanced(store: QuestionStore, site: str, params: dict) -> Page:
    """``/search/advanced``: free text plus many structured criteria."""
    listing = _listing(params, SEARCH_SORTS)
    terms = words(params.get("q", ""))
    checks = _advanced_checks(params, terms)

    return _search(store, site, listing, checks, lambda s: _relevance(terms, s))


def search(store: QuestionStore, site: str, params: dict) -> Page:
    """``/search``: the limited search on tags and title words."""
    tagged = _tags(params, "tagged")
    intitle = params.get("intitle", "").lower()
    if not tagged and not intitle:
        raise bad_parameter("one of tagged or intitle must be set")
    listing = _listing(params, SEARCH_SORTS)

    # The API only honours nottagged together with tagged.
    nottagged = _tags(params, "nottagged") if tagged else frozenset()
    checks = [lambda q, s: intitle in s.title] if intitle else []
    if tagged:
        checks.append(lambda q, s: bool(tagged & s.tags))
    if nottagged:
        checks.append(lambda q, s: not nottagged & s.tags)

    terms = words(intitle)
    return _search(store, site, listing, checks, lambda s: _relevance(terms, s))


def similar(store: QuestionStore, site: str, params: dict) -> Page:
    """``/similar``: questions whose title or tags share words with ``title``."""
    if not params.get("title"):
        raise bad_parameter("title")
    listing = _listing(params, SEARCH_SORTS)
    terms = words(params["title"]) - _SIMILAR_IGNORED
    preferred = _tags(params, "tagged")
    nottagged = _tags(params, "nottagged")

    def score(s: Searchable) -> int:
        return _relevance(terms, s) + len(preferred & s.tags)

    checks = [lambda q, s: bool(terms & (s.title_words | s.tag_words))]
    if nottagged:
        checks.append(lambda q, s: not nottagged & s.tags)
    return _search(store, site, listing, checks, score)


def questions_by_ids(store: QuestionStore, site: str, ids: str, params: dict) -> Page:
    """``/questions/{ids}``: the listed questions that exist, in sort order."""
    parts = [part for part in ids.split(";") if part]
    # Non-numeric ids do not match the route at all, hence no_method.
    if not parts or not all(part.isdigit() for part in parts):
        raise APIError(404, "no method found with this name")
    if len(parts) > MAX_IDS:
        raise bad_parameter("ids")
    listing = _listing(params, ID_SORTS)

    wanted = {int(part) for part in parts}
    found = [q for q in store.visible(site) if q["question_id"] in wanted]
    return _rank(found, listing, {})


def sites(store: QuestionStore, params: dict) -> Page:
    """``/sites``: every site, in the recorded order; pagesize is unbounded."""
    page = _int(params, "page", low=1)
    pagesize = _int(params, "pagesize", low=0)
    page = 1 if page is None else page
    pagesize = DEFAULT_PAGESIZE if pagesize is None else pagesize
    _check_page_access(params, page)

    return _paginate(store.sites, page, pagesize, "site")


def _advanced_checks(params: dict, terms: frozenset[str]) -> list[Check]:
    checks: list[Check] = []
    if terms:
        checks.append(lambda q, s: terms <= s.title_words | s.tag_words | s.body_words)
    checks += _tag_checks(params)
    checks += _flag_checks(params)
    checks += _minimum_checks(params)

    title = params.get("title", "").lower()
    if title:
        checks.append(lambda q, s: title in s.title)
    body = params.get("body", "").lower()
    if body:
        checks.append(lambda q, s: s.body is not None and body in s.body)
    return checks


def _tag_checks(params: dict) -> list[Check]:
    tagged = _tags(params, "tagged")
    nottagged = _tags(params, "nottagged")
    checks: list[Check] = []
    if tagged:
        checks.append(lambda q, s: bool(tagged & s.tags))
    if nottagged:
        checks.append(lambda q, s: not nottagged & s.tags)
    return checks


def _flag_checks(params: dict) -> list[Check]:
    # Each boolean criterion asks whether the question has one field.
    flags = {
        "accepted": "accepted_answer_id",
        "closed": "closed_date",
        "migrated": "migrated_from",
        "wiki": "community_owned_date",
    }
    checks: list[Check] = []
    for name, field in flags.items():
        wanted = _bool(params, name)
        if wanted is not None:
            checks.append(lambda q, s, f=field, w=wanted: (f in q) == w)
    return checks


def _minimum_checks(params: dict) -> list[Check]:
    checks: list[Check] = []
    for name, field in (("answers", "answer_count"), ("views", "view_count")):
        least = _int(params, name, low=0)
        if least is not None:
            checks.append(lambda q, s, f=field, n=least: q.get(f, 0) >= n)

    user = _int(params, "user")
    if user is not None:
        checks.append(lambda q, s: q.get("owner", {}).get("user_id") == user)
    return checks


def _relevance(terms: frozenset[str], s: Searchable) -> int:
    return len(terms & s.title_words) + len(terms & s.tag_words)


def _search(
    store: QuestionStore,
    site: str,
    listing: _Listing,
    checks: list[Check],
    score: Callable[[Searchable], int],
) -> Page:
    matches, scores = [], {}
    for question in store.visible(site):
        searchable = store.searchable(site, question)
        if all(check(question, searchable) for check in checks):
            matches.append(question)
            scores[question["question_id"]] = score(searchable)
    return _rank(matches, listing, scores)


def _rank(questions: list[dict], listing: _Listing, scores: dict[int, int]) -> Page:
    field = SORT_FIELDS.get(listing.sort)
    ranked = []
    for question in questions:
        created = question.get("creation_date", 0)
        if listing.fromdate is not None and created < listing.fromdate:
            continue
        if listing.todate is not None and created > listing.todate:
            continue

        qid = question["question_id"]
        value = question.get(field, 0) if field else scores.get(qid, 0)
        if listing.low is not None and value < listing.low:
            continue
        if listing.high is not None and value > listing.high:
            continue
        ranked.append(((value, qid), question))

    # Sorting on (value, id) in one direction gives the documented tie-break.
    ranked.sort(key=lambda pair: pair[0], reverse=listing.descending)
    return _paginate([q for _, q in ranked], listing.page, listing.pagesize)


def _paginate(
    items: list[dict], page: int, pagesize: int, kind: str = "question"
) -> Page:
    start = (page - 1) * pagesize
    return Page(
        items=items[start : start + pagesize],
        has_more=start + pagesize < len(items),
        total=len(items),
        type=kind,
    )


def _listing(params: dict, sorts: frozenset[str]) -> _Listing:
    sort = params.get("sort", "activity").lower()
    if sort not in sorts:
        raise bad_parameter("sort")
    order = params.get("order", "desc").lower()
    if order not in ("desc", "asc"):
        raise bad_parameter("order")

    page = _int(params, "page", low=1)
    pagesize = _int(params, "pagesize", low=0, high=MAX_PAGESIZE)
    page = 1 if page is None else page
    _check_page_access(params, page)

    # min and max bound the sort field: dates, scores, or (for relevance)
    # nothing, since the API does not accept them there.
    bound = _int if sort == "votes" else _date
    low = bound(params, "min") if sort != "relevance" else None
    high = bound(params, "max") if sort != "relevance" else None
    return _Listing(
        sort=sort,
        descending=order == "desc",
        low=low,
        high=high,
        fromdate=_date(params, "fromdate"),
        todate=_date(params, "todate"),
        page=page,
        pagesize=DEFAULT_PAGESIZE if pagesize is None else pagesize,
    )


def _check_page_access(params: dict, page: int) -> None:
    if page > ANONYMOUS_PAGE_LIMIT and not (
        params.get("key") or params.get("access_token")
    ):
        raise APIError(403, "page above 25 requires access token or app key")


def _int(
    params: dict, name: str, low: int | None = None, high: int | None = None
) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_parameter(name) from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise bad_parameter(name)
    return value


def _date(params: dict, name: str) -> int | None:
    """Read epoch seconds, or the ``YYYY-MM-DD[ HH:MM:SS]`` form, as UTC."""
    raw = params.get(name)
    if raw is None:
        return None
    if raw.lstrip("-").isdigit():
        return int(raw)

    for layout in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S"):
        try:
            parsed = datetime.datetime.strptime(raw, layout)
        except ValueError:
            continue
        stamp = parsed.replace(tzinfo=datetime.UTC).timestamp()
        return math.floor(stamp)
    raise bad_parameter(name)


def _bool(params: dict, name: str) -> bool | None:
    raw = params.get(name)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise bad_parameter(name)
    return raw.lower() == "true"


def _tags(params: dict, name: str) -> frozenset[str]:
    raw = params.get(name, "")
    return frozenset(tag.strip().lower() for tag in raw.split(";") if tag.strip())
