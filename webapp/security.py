"""Request checks and response headers that every page gets.

StackWatch is read-only over HTTP: anything but GET and HEAD is refused
with 405 before routing.  A path or query string that is not UTF-8 is
refused with 400 before anything tries to decode it.  Every response carries
a Content-Security-Policy that allows scripts only from the app itself (no
inline script) and no framing, plus nosniff and a Referrer-Policy.
"""

from urllib.parse import unquote_to_bytes

from pyramid.events import NewRequest, subscriber
from pyramid.httpexceptions import HTTPBadRequest, HTTPMethodNotAllowed

ALLOWED_METHODS = ("GET", "HEAD")


@subscriber(NewRequest)
def check_request(event):
    request = event.request
    if request.method not in ALLOWED_METHODS:
        raise HTTPMethodNotAllowed(
            detail="StackWatch pages are read-only: use GET.",
            headers={"Allow": ", ".join(ALLOWED_METHODS)},
        )
    for part in ("PATH_INFO", "QUERY_STRING"):
        raw = request.environ.get(part, "")
        try:
            # WSGI hands these over as latin-1 decoded bytes.
            unquote_to_bytes(raw.encode("latin-1")).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            raise HTTPBadRequest(
                detail="The address contains bytes that are not UTF-8 text."
            )


def content_security_policy(websocket_origin: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src 'self' {websocket_origin}".strip(),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers_tween_factory(handler, registry):
    def security_headers_tween(request):
        response = handler(request)
        origin = registry.get("websocket_origin", lambda r: "")(request)
        headers = response.headers
        headers["Content-Security-Policy"] = content_security_policy(origin)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "DENY"
        return response

    return security_headers_tween


def includeme(config):
    config.scan(__name__)
    config.add_tween("webapp.security.security_headers_tween_factory")
