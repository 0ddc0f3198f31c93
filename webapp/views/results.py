"""The results of one saved search, paged and sorted."""

from datetime import datetime, timezone

from pyramid.view import view_config

from ..models import SavedSearch
from ..security import ALLOWED_METHODS
from ..services import results as results_service
from ..services import searches as searches_service
from ..services import stackexchange as se
from ..services.refresh import latest_refreshes
from .browse import ExplainedNotFound, Pager, api_quota, is_number, parse_browse


@view_config(
    route_name="search.results",
    renderer="searches/results.mako",
    request_method=ALLOWED_METHODS,
)
def search_results(request):
    settings = request.registry.stackwatch
    search_id = _search_id(request)
    browse = parse_browse(
        request.GET,
        settings.page_sizes,
        settings.default_page_size,
        settings.sorts,
        settings.default_sort,
        settings.default_order,
    )

    # Fetch what is missing before this request's own session reads
    # anything, so that it sees the rows just stored.
    try:
        outcome = results_service.ensure_rows(
            request.registry["dbsession_factory"],
            request.se_client,
            search_id,
            browse.sort,
            browse.order,
            browse.page,
            browse.pagesize,
            claims=request.registry["fetch_claims"],
        )
    except results_service.SearchNotFoundError:
        raise ExplainedNotFound(f"There is no saved search {search_id}.")

    search = request.dbsession.get(SavedSearch, search_id)
    rows = results_service.read_rows(
        request.dbsession,
        search_id,
        browse.sort,
        browse.order,
        browse.page,
        browse.pagesize,
    )
    total, stored = results_service.ordering_state(
        request.dbsession, search_id, browse.sort, browse.order
    )
    pager = Pager(browse.page, browse.pagesize, total, more=total is None)
    if outcome.error is None and browse.page > 1:
        if total is not None and browse.page > pager.last:
            raise ExplainedNotFound(
                f"This search has {total} results: page {browse.page} is past "
                f"its last page, {pager.last}."
            )
        if not rows:
            raise ExplainedNotFound(
                f"Page {browse.page} is past the end of this search's results."
            )
    # Rows are marked with what the search's last refresh recorded.
    last_refresh = latest_refreshes(request.dbsession, [search_id]).get(search_id)
    if outcome.error is not None:
        # A degraded page must not be kept by the page cache.
        request.response.cache_control.no_store = True
        request.response.headers["Retry-After"] = str(_retry_after(outcome.error))

    return dict(
        search=search,
        params=searches_service.search_params(search),
        description=searches_service.describe(searches_service.search_params(search)),
        rows=rows,
        browse=browse,
        pager=pager,
        stored=stored,
        sorts=settings.sorts,
        page_sizes=settings.page_sizes,
        problem=_problem(outcome.error),
        page_limit=request.se_client.page_limit,
        quota=api_quota(request),
        new_ids=last_refresh.new_question_ids if last_refresh else frozenset(),
        changed_ids=last_refresh.changed_question_ids if last_refresh else frozenset(),
    )


def _search_id(request) -> int:
    text = request.matchdict["id"]
    if not is_number(text) or len(text) > 9:
        raise ExplainedNotFound(f"{text[:40]!r} is not the number of a saved search.")
    return int(text)


# Suggested wait when the API named none: nothing stops an earlier retry.
DEFAULT_RETRY = 30


def _retry_after(error: se.StackExchangeError) -> int:
    return max(1, int(error.retry_after or DEFAULT_RETRY))


def _problem(error):
    """What to tell the user when the API could not give the rows."""
    if error is None:
        return None
    retry = _retry_after(error)
    when = datetime.fromtimestamp(
        datetime.now(timezone.utc).timestamp() + retry, timezone.utc
    )
    if error.retry_after is None:
        retry_text = "Try again in a moment."
    else:
        retry_text = f"Try again in {retry} s (after {when:%H:%M:%S} UTC)."
    if isinstance(error, se.PageLimitError):
        return (
            "Stack Exchange serves the first 2,500 results of a search "
            "(25 pages of 100) "
            "to callers without an app key. Set stackexchange.key to read further."
        )
    if isinstance(error, se.BackoffError):
        return f"Stack Exchange asked StackWatch to slow down. {retry_text}"
    if isinstance(error, se.ThrottleError):
        return (
            "Stack Exchange refused the request: too many requests "
            f"({error.message}). {retry_text}"
        )
    if isinstance(error, results_service.FetchInProgressError):
        return f"These rows are still being fetched for another visitor. {retry_text}"
    if isinstance(error, se.APITimeoutError):
        return f"Stack Exchange did not answer in time. {retry_text}"
    if isinstance(error, se.UnavailableError):
        return f"Stack Exchange is temporarily unavailable. {retry_text}"
    if isinstance(error, se.BadParameterError):
        return f"Stack Exchange rejected this search: {error.message}"
    if isinstance(error, se.APIError):
        return (
            f"Stack Exchange answered with an error ({error.error_name}). {retry_text}"
        )
    return f"Stack Exchange could not be reached: {error}. {retry_text}"
