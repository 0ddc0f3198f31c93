"""Where pages find the notifier: ``request.notifier_url``.

The layout renders it into ``<body data-ws-url>``, where ``notify.js``
reads it.  Behind a proxy it is ``notifier.public_url``; otherwise the
notifier's own port on the host the page was asked for, so the same page
works on 127.0.0.1, on localhost and on a LAN address.  Its origin is also
registered as ``websocket_origin``, which the Content-Security-Policy
(``webapp.security``) adds to ``connect-src``.
"""

import re
from urllib.parse import urlsplit

# A host name, an IPv4 address or a bracketed IPv6 one.  The Host header is
# the client's to choose and ends up in an attribute and a CSP header.
_HOSTNAME = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")


def notifier_url(request) -> str:
    settings = request.registry.stackwatch
    if settings.notifier_public_url:
        return settings.notifier_public_url
    host = _hostname(request.host)
    if not _HOSTNAME.fullmatch(host):
        host = settings.notifier_host
    return f"ws://{host}:{settings.notifier_port}/ws"


def _hostname(host: str) -> str:
    """``host`` without its port; IPv6 addresses keep their brackets."""
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if ":" in host else host


def websocket_origin(request) -> str:
    """``scheme://host[:port]`` of :func:`notifier_url`, as CSP sources are written."""
    parts = urlsplit(request.notifier_url)
    return f"{parts.scheme}://{parts.netloc}"


def includeme(config):
    config.add_request_method(notifier_url, reify=True)
    config.registry["websocket_origin"] = websocket_origin
