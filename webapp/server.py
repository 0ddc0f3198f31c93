"""The ``[server:main]`` runner: waitress, on the port the environment may override."""

import logging

import waitress

from .settings import http_port

log = logging.getLogger(__name__)


def serve(app, global_conf=None, host="127.0.0.1", port="6543", threads="8", **options):
    """Serve ``app`` with waitress; ``STACKWATCH_HTTP_PORT`` wins over ``port``."""
    port = http_port(port)
    log.info("serving on http://%s:%d", host, port)
    waitress.serve(app, host=host, port=port, threads=int(threads), **options)
