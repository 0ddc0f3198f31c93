"""The list of saved searches and the new-search form."""
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config
from sqlalchemy import func, select

from ..models import SavedSearch, Site
from ..services import searches as searches_service
from ..services import sites as sites_service
from .browse import BadParameter, Pager, parse_browse, single

# How each sort of the saved-search list orders its rows.
LIST_COLUMNS = {
    "created": SavedSearch.created_at,
    "site": Site.api_name,
    "query": SavedSearch.query,
    "rows": SavedSearch.row_count,
    "refreshed": SavedSearch.refreshed_at,
}
READ_ONLY = ("GET", "HEAD")


@view_config(route_name="searches.list", renderer="searches/list.mako", request_method=READ_ONLY)
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
    return dict(
        searches=rows,
        browse=browse,
        pager=Pager(browse.page, browse.pagesize, total, more=False),
        sorts=settings.list_sorts,
        page_sizes=settings.page_sizes,
        describe=lambda s: searches_service.describe(searches_service.search_params(s)),
    )


@view_config(route_name="search.new", renderer="search/new.mako", request_method=READ_ONLY)
def search_new(request):
    """The form; submitted (any parameter given), saves the search and redirects."""
    settings = request.registry.stackwatch
    session_factory = request.registry["dbsession_factory"]
    submitted = any(name in request.GET for name in ("site", *searches_service.FILTER_NAMES))
    sites_error = sites_service.refresh_sites(session_factory, request.se_client, settings.sites_ttl)

    form = {name: single(request.GET, name, "") for name in searches_service.FILTER_NAMES}
    form["site"] = single(request.GET, "site", settings.default_site)
    pagesize = single(request.GET, "pagesize", str(settings.default_page_size))
    if not pagesize.isdigit() or int(pagesize) not in settings.page_sizes:
        raise BadParameter("pagesize", f"must be one of {', '.join(map(str, settings.page_sizes))}")

    if submitted:
        error = None
        try:
            site = _site(request, form["site"], sites_error)
            params = searches_service.normalize(form)
        except searches_service.InvalidSearchError as exc:
            error = exc
        if error is None:
            search_id = searches_service.save_search(session_factory, site, params)
            query = {} if int(pagesize) == settings.default_page_size else {"pagesize": pagesize}
            return HTTPSeeOther(request.route_url("search.results", id=search_id, _query=query))
        request.response.status_int = 400
    else:
        error = None

    with session_factory() as session:
        sites = [(s.api_name, s.name) for s in sites_service.list_sites(session)]
    return dict(
        form=form,
        pagesize=int(pagesize),
        page_sizes=settings.page_sizes,
        filter_specs=searches_service.FILTERS,
        sites=sites,
        sites_error=sites_error,
        error=error,
    )


def _site(request, name, sites_error):
    """The stored site named ``name``, or a 400 when the site is unknown."""
    name = (name or "").strip().lower()
    if not sites_service.SITE_NAME.match(name):
        raise searches_service.InvalidSearchError("site", "is not a Stack Exchange site name")
    session_factory = request.registry["dbsession_factory"]
    with session_factory() as session:
        site = sites_service.find_site(session, name)
        has_list = session.scalar(select(func.count(Site.id))) > 0
    if site is not None:
        return site
    if has_list and sites_error is None:
        raise searches_service.InvalidSearchError("site", f"{name!r} is not a Stack Exchange site")
    # The list of sites could not be fetched: let the API judge the name.
    return sites_service.ensure_site(session_factory, name)
