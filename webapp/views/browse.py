"""Reading and checking the paging and sorting parameters of list pages."""

from dataclasses import dataclass
from math import ceil

from pyramid.httpexceptions import HTTPBadRequest, HTTPNotFound

from ..services.searches import is_number

MAX_PAGE = 100_000


class BadParameter(HTTPBadRequest):
    """A 400 whose message says which values are allowed."""

    def __init__(self, name: str, message: str):
        super().__init__(detail=f"{name}: {message}")
        self.parameter = name
        self.message = message


class ExplainedNotFound(HTTPNotFound):
    """A 404 whose detail is a sentence for the user."""


@dataclass(frozen=True)
class Browse:
    page: int
    pagesize: int
    sort: str
    order: str

    def query(self, **changes) -> dict:
        """These parameters as a query string dict, with some changed."""
        values = dict(
            page=self.page, pagesize=self.pagesize, sort=self.sort, order=self.order
        )
        values.update(changes)
        return values


def single(params, name: str, default: str | None = None) -> str | None:
    """The one value of ``name``; a parameter given twice is an error."""
    values = params.getall(name)
    if len(values) > 1:
        raise BadParameter(name, "was given more than once")
    if not values or values[0] == "":
        return default
    return values[0]


def parse_browse(
    params, page_sizes, default_size, sorts, default_sort, default_order
) -> Browse:
    """Read page, pagesize, sort and order, or raise a 400 listing what is allowed."""
    page_text = single(params, "page", "1")
    if (
        not is_number(page_text)
        or len(page_text) > 6
        or not 1 <= int(page_text) <= MAX_PAGE
    ):
        raise BadParameter("page", f"must be a whole number from 1 to {MAX_PAGE}")

    size_text = single(params, "pagesize", str(default_size))
    allowed_sizes = ", ".join(str(s) for s in page_sizes)
    if not is_number(size_text) or int(size_text) not in page_sizes:
        raise BadParameter("pagesize", f"must be one of {allowed_sizes}")

    sort = single(params, "sort", default_sort)
    if sort not in sorts:
        raise BadParameter("sort", f"must be one of {', '.join(sorts)}")
    order = single(params, "order", default_order)
    if order not in ("asc", "desc"):
        raise BadParameter("order", "must be asc or desc")
    return Browse(int(page_text), int(size_text), sort, order)


@dataclass(frozen=True)
class Pager:
    """Which pages exist around the current one."""

    page: int
    pagesize: int
    rows: int | None  # total rows when known
    more: bool  # rows may exist past the last known page

    @property
    def last(self) -> int | None:
        if self.rows is None:
            return None
        return max(1, ceil(self.rows / self.pagesize))

    @property
    def has_next(self) -> bool:
        return self.more or (self.last is not None and self.page < self.last)

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def api_quota(request) -> tuple[int, int] | None:
    """(quota_max, quota_remaining) last reported by the API for our caller."""
    caller = "key" if request.registry.stackwatch.api_key else "anonymous"
    return request.registry["se_state"].quota(caller)
