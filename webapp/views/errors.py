"""Error pages: every failure is a page that says what happened, never a traceback."""

import logging

from pyramid.httpexceptions import HTTPError
from pyramid.view import exception_view_config, notfound_view_config

from .browse import ExplainedNotFound

log = logging.getLogger(__name__)


@notfound_view_config(renderer="errors/error.mako", append_slash=False)
def not_found(exc, request):
    request.response.status_int = 404
    # Pyramid's own 404s carry a path or URL as detail; only the views'
    # ExplainedNotFound carries a sentence meant for the user.
    if isinstance(exc, ExplainedNotFound):
        return dict(title="Not found", message=exc.detail)
    return dict(title="Not found", message="There is no page at this address.")


@exception_view_config(HTTPError, renderer="errors/error.mako")
def http_error(exc, request):
    request.response.status_int = exc.status_int
    for header in ("Allow", "Retry-After"):
        if header in exc.headers:
            request.response.headers[header] = exc.headers[header]
    return dict(title=exc.title, message=exc.detail or exc.explanation)


@exception_view_config(Exception, renderer="errors/error.mako")
def server_error(exc, request):
    # The raw path: the decoded one may be what failed.
    log.exception(
        "error while serving %s %r",
        request.method,
        request.environ.get("PATH_INFO", "")[:200],
    )
    request.response.status_int = 500
    return dict(
        title="Something went wrong",
        message="StackWatch could not show this page. The error has been logged.",
    )
