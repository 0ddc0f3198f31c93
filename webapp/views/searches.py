"""The list of saved searches and the new-search form."""

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config
from sqlalchemy import func, select

from ..models import SavedSearch, Site
from ..security import ALLOWED_METHODS
from ..services import results as results_service
from ..services import searches as searches_service
from ..services import sites as sites_service
from ..services import stackexchange as se
from ..services.refresh import latest_refreshes
from ..services.storage import write_session
from .browse import (
    BadParameter,
    ExplainedNotFound,
    Pager,
    is_number,
    parse_browse,
    single,
)

# How each sort of the saved-search list orders its rows.
LIST_COLUMNS = {
    "created": SavedSearch.created_at,
    "site": Site.api_name,
    "query": SavedSearch.query,
    "rows": SavedSearch.row_count,
    "refreshed": SavedSearch.refreshed_at,
}


@view_config(
    route_name="searches.list",
    renderer="searches/list.mako",
    request_method=ALLOWED_METHODS,
)
def search_list(request):
    settings = request.registry.stackwatch
    browse = parse_browse(
        request.GET,
        settings.page_sizes,
        settings.default_page_size,
        settings.list_sorts,
        settings.list_default_sort,
        "desc",
    )
    column = LIST_COLUMNS[browse.sort]
    column = column.desc() if browse.order == "desc" else column.asc()

    total = request.dbsession.scalar(select(func.count(SavedSearch.id)))
    query = (
        select(SavedSearch)
        .join(Site)
        .order_by(column, SavedSearch.id.desc())
        .offset((browse.page - 1) * browse.pagesize)
        .limit(browse.pagesize)
    )
    rows = request.dbsession.scalars(query).all()
    pager = Pager(browse.page, browse.pagesize, total, more=False)
    if browse.page > pager.last:
        raise ExplainedNotFound(
            f"Page {browse.page} is past the last page of saved searches, {pager.last}."
        )
    return dict(
        searches=rows,
        browse=browse,
        pager=pager,
        sorts=settings.list_sorts,
        page_sizes=settings.page_sizes,
        describe=lambda s: searches_service.describe(searches_service.search_params(s)),
        last_refreshes=latest_refreshes(request.dbsession, [s.id for s in rows]),
    )


@view_config(
    route_name="search.new", renderer="search/new.mako", request_method=ALLOWED_METHODS
)
def search_new(request):
    """The form; submitted (any parameter given), saves the search and redirects."""
    settings = request.registry.stackwatch
    session_factory = request.registry["dbsession_factory"]
    submitted = any(
        name in request.GET for name in ("site", *searches_service.FILTER_NAMES)
    )
    sites_error = sites_service.refresh_sites(
        session_factory, request.se_client, settings.sites_ttl
    )

    form = {
        name: single(request.GET, name, "") for name in searches_service.FILTER_NAMES
    }
    form["site"] = single(request.GET, "site", settings.default_site)
    pagesize = single(request.GET, "pagesize", str(settings.default_page_size))
    if not is_number(pagesize) or int(pagesize) not in settings.page_sizes:
        raise BadParameter(
            "pagesize", f"must be one of {', '.join(map(str, settings.page_sizes))}"
        )

    error = None
    if submitted:
        try:
            search_id = _save(request, form)
        except searches_service.InvalidSearchError as exc:
            error = exc
            request.response.status_int = 400
        else:
            query = (
                {}
                if int(pagesize) == settings.default_page_size
                else {"pagesize": pagesize}
            )
            return HTTPSeeOther(
                request.route_url("search.results", id=search_id, _query=query)
            )

    with session_factory() as session:
        sites = [(s.api_name, s.name) for s in sites_service.list_sites(session)]
    return dict(
        # What was typed goes back into the form, less what no page shows.
        form={name: searches_service.printable(value) for name, value in form.items()},
        pagesize=int(pagesize),
        page_sizes=settings.page_sizes,
        filter_specs=searches_service.FILTERS,
        sites=sites,
        sites_error=sites_error,
        error=error,
    )


def _save(request, form) -> int:
    """Check the submitted form and save the search; raises InvalidSearchError."""
    params = searches_service.normalize(form)
    name = (form["site"] or "").strip().lower()
    if not sites_service.SITE_NAME.match(name):
        raise searches_service.InvalidSearchError(
            "site", "is not a Stack Exchange site name"
        )
    session_factory = request.registry["dbsession_factory"]
    with session_factory() as session:
        site = sites_service.find_site(session, name)

    first_page = None
    if site is None:
        first_page = _ask_api_about(request, name, params)
        site = sites_service.ensure_site(session_factory, name)
    search_id = searches_service.save_search(session_factory, site, params)
    if first_page is not None:
        settings = request.registry.stackwatch
        with write_session(session_factory) as session:
            results_service.store_page(
                session,
                search_id,
                settings.default_sort,
                settings.default_order,
                1,
                first_page.items,
                first_page.has_more,
            )
    return search_id


def _ask_api_about(request, name, params):
    """Run the search once for a site the stored list does not know.

    The API's answer tells whether the site exists; when it does, the page
    it returned is the first page of results and is kept.  When the API
    cannot say (it is down or throttled), the name is given the benefit of
    the doubt and the results page will report what happens.
    """
    settings = request.registry.stackwatch
    try:
        return request.se_client.search_advanced(
            name,
            searches_service.api_params(params),
            settings.default_sort,
            settings.default_order,
            1,
        )
    except se.BadParameterError as exc:
        raise searches_service.InvalidSearchError(
            "site", f"{name!r} is not a Stack Exchange site ({exc.message})"
        ) from exc
    except se.StackExchangeError:
        return None
