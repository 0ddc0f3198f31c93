"""The page cache tween: which pages are kept in Redis, and under which key.

It sits outermost, so that a hit skips the transaction and the router.  The
saved-search list and the results pages are cached; their key is the host,
the path and the canonical query (parameters sorted, the browse defaults
filled in), so ``?sort=votes&page=2`` and ``?page=2&sort=votes`` share an
entry, and parameters the views ignore are left out.  The host is part of
the key because pages hold absolute links.
Only a 200 answer to a GET is stored, and only when it sets no cookie and
does not say ``no-store`` or ``private``; a HEAD is answered from a GET's
entry.  Cached pages carry ``X-Cache: HIT`` and fresh ones ``X-Cache: MISS``.

A request that called the Stack Exchange API stored rows, and one that
redirected saved a search: either changes the list (it shows row counts),
so its pages are purged, and so are the pages of a search that got rows.
The Redis side lives in :mod:`webapp.services.page_cache`.
"""

from pyramid.interfaces import IRoutesMapper
from pyramid.response import Response
from pyramid.tweens import INGRESS, MAIN

from .services import page_cache
from .services.searches import is_number

READ_METHODS = ("GET", "HEAD")
# Headers that describe one transfer rather than the page.
_TRANSFER_HEADERS = frozenset(
    ("content-length", "date", "server", "connection", "x-cache")
)
# Redirects that follow a change (304 Not Modified is no redirect).
_REDIRECTS = frozenset((301, 302, 303, 307, 308))


def includeme(config):
    # Outermost, above the security headers too: a stored page keeps the
    # headers it was rendered with, so a hit needs nothing below this one.
    config.add_tween(
        "webapp.cache.PageCacheTween",
        under=INGRESS,
        over=("webapp.security.security_headers_tween_factory", MAIN),
    )


class PageCacheTween:
    def __init__(self, handler, registry):
        settings = registry.stackwatch
        self.handler = handler
        self.cache = page_cache.PageCache(registry["redis"], settings.cache_ttl)
        self.routes = registry.getUtility(IRoutesMapper)
        # The defaults each cached route's view fills in (see views.browse).
        size = str(settings.default_page_size)
        self.defaults = {
            "searches.list": {
                "page": "1",
                "pagesize": size,
                "sort": settings.list_default_sort,
                "order": "desc",
            },
            "search.results": {
                "page": "1",
                "pagesize": size,
                "sort": settings.default_sort,
                "order": settings.default_order,
            },
        }

    def __call__(self, request):
        target = self._target(request) if request.method in READ_METHODS else None
        lookup = self.cache.lookup(*target) if target else None
        if lookup is not None and lookup.page is not None:
            return _hit(lookup.page)

        response = self.handler(request)
        if _wrote(request, response):
            # Rows fetched for a search change its other pages too (their
            # pager learns where the results end), and every change shows
            # in the list.
            search_id = page_cache.search_of(target[0]) if target else None
            if search_id is not None:
                self.cache.purge_search(search_id)
                # This page was rendered from the new rows: keep it under
                # the generation the purge started.
                lookup = self.cache.lookup(*target)
            else:
                self.cache.purge_list()
        if target is None:
            return response
        response.headers["X-Cache"] = "MISS"
        if lookup is not None and request.method == "GET" and _cacheable(response):
            self.cache.store(lookup, _page(response))
        return response

    def _target(self, request) -> tuple[str, str] | None:
        """The (group, key URL) of a cacheable page, or None."""
        environ = request.environ
        try:
            info = self.routes(request)
            route = info["route"]
            if route is None or route.name not in self.defaults:
                return None
            query = _canonical_query(request.GET, self.defaults[route.name])
        except UnicodeDecodeError:
            # A URL that is not UTF-8: let the app answer it, uncached.
            return None
        if query is None:
            return None

        if route.name == "search.results":
            search_id = info["match"]["id"]
            if not is_number(search_id) or len(search_id) > 9:
                return None
            group = page_cache.search_group(int(search_id))
        else:
            group = page_cache.LIST_GROUP
        path = environ.get("SCRIPT_NAME", "") + environ["PATH_INFO"]
        return group, f"GET {request.host_url}{path}?{query}"


def _canonical_query(params, defaults: dict[str, str]) -> str | None:
    """The browse parameters, defaults filled in, in one spelling; None if
    one is given twice (the view answers that with a 400).

    ``params`` is the request's own parsed query, so the key splits it
    exactly as the view does.  Other parameters are left out: the views
    ignore them, and keying on them would let anyone fill the cache.
    """
    parts = []
    for name, default in sorted(defaults.items()):
        values = params.getall(name)
        if len(values) > 1:
            return None
        # Missing or empty means the default, as in views.browse.single.
        value = values[0] if values and values[0] != "" else default
        parts.append(f"{name}={_escape(value)}")
    return "&".join(parts)


def _escape(text: str) -> str:
    # Enough to keep "a=b&c" apart from "a=b%26c" in a key, at a fraction of
    # the cost of percent-encoding everything.
    return text.replace("%", "%25").replace("&", "%26").replace("=", "%3D")


def _wrote(request, response) -> bool:
    client = request.__dict__.get("se_client")
    return response.status_int in _REDIRECTS or bool(client and client.calls)


def _cacheable(response) -> bool:
    cache_control = response.cache_control
    return (
        response.status_int == 200
        and "Set-Cookie" not in response.headers
        and not cache_control.no_store
        and not cache_control.private
    )


def _page(response) -> page_cache.CachedPage:
    headers = [
        (k, v) for k, v in response.headerlist if k.lower() not in _TRANSFER_HEADERS
    ]
    return page_cache.CachedPage(response.status, headers, response.body)


def _hit(page: page_cache.CachedPage) -> Response:
    headers = [*page.headers, ("X-Cache", "HIT")]
    return Response(body=page.body, status=page.status, headerlist=headers)
