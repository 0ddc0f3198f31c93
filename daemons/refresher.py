"""The refresher: keeps saved searches fresh, within the API's limits.

Run it as ``stackwatch-refresher production.ini``: it stays in the
foreground, logs to stderr, and starts a refresh cycle every
``refresher.interval`` seconds (see :mod:`webapp.services.refresh` for what a
cycle does).  ``--once`` runs one cycle and exits, for cron, tests and
operators; its status is 0 when the cycle ran, 1 when it could not start
(database unreachable, schema missing) and 2 on a bad setting.

Cycles run in a worker thread while the main thread waits for signals.
SIGTERM or SIGINT stops the refresher after the search it is working on;
if that search is still waiting on the API ``STOP_GRACE`` seconds later, the
process exits anyway, well inside supervisord's 10 s stop wait.  Nothing is
lost: an unfinished search was not written yet (its transaction, if any,
rolls back), and the next cycle refreshes it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

from sqlalchemy.engine import make_url

from webapp.models import get_engine, get_session_factory
from webapp.services.redis_link import RedisLink
from webapp.services.refresh import Refresher

from . import argument_parser, load

log = logging.getLogger(__name__)

STOP_GRACE = 5.0
# The refresher can wait for Redis longer than a page can.
REDIS_TIMEOUT = 1.0


def main(argv: list[str] | None = None) -> int:
    """Console script ``stackwatch-refresher``."""
    parser = argument_parser("Refresh saved searches through the Stack Exchange API.")
    parser.add_argument("--once", action="store_true", help="run one cycle and exit")
    args = parser.parse_args(argv)
    settings = load(args.config_uri)

    stop = threading.Event()
    try:
        engine = get_engine(settings.database_url, settings.sqlite_busy_timeout)
    except Exception as exc:  # SQLAlchemy raises several kinds for a bad URL.
        log.error("cannot use sqlalchemy.url: %s", exc)
        return 1
    redis_link = RedisLink(settings.redis_url, REDIS_TIMEOUT)
    refresher = Refresher.from_settings(
        settings, get_session_factory(engine), redis_link, stop
    )

    database = make_url(settings.database_url).render_as_string(hide_password=True)
    every = "one cycle" if args.once else f"every {settings.refresh_interval} s"
    log.info("refresher started on %s, %s", database, every)
    status = _run_until_stopped(refresher, settings.refresh_interval, args.once, stop)
    engine.dispose()
    return status


def _run_until_stopped(
    refresher: Refresher, interval: float, once: bool, stop: threading.Event
) -> int:
    """Run the cycles in a worker thread; return the exit status."""
    outcome = {"status": 0}
    worker = threading.Thread(
        target=_cycles,
        args=(refresher, interval, once, stop, outcome),
        name="refresh",
        daemon=True,
    )

    def request_stop(signum, _frame):
        log.info(
            "%s received, stopping after the current search",
            signal.Signals(signum).name,
        )
        stop.set()

    previous = {
        s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)
    }
    worker.start()
    try:
        # Joining in short steps lets the main thread run the signal handlers.
        while worker.is_alive() and not stop.is_set():
            worker.join(0.2)
        worker.join(STOP_GRACE)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    if worker.is_alive():
        # The current search is still waiting on the API: leave it unwritten.
        log.warning("stopped without finishing the current search")
        logging.shutdown()
        os._exit(0)
    log.info("refresher stopped")
    return outcome["status"]


def _cycles(
    refresher: Refresher,
    interval: float,
    once: bool,
    stop: threading.Event,
    outcome: dict,
) -> None:
    """The worker: one cycle every ``interval`` seconds, or a single one."""
    while not stop.is_set():
        began = time.monotonic()
        try:
            refresher.run_cycle(once=once)
        except Exception:
            # A cycle that cannot start is logged; the next one may fare better.
            log.exception("refresh cycle failed")
            if once:
                outcome["status"] = 1
        if once:
            break
        stop.wait(max(0.0, began + interval - time.monotonic()))
    # The main thread may be waiting for a signal; let it go.
    stop.set()


if __name__ == "__main__":
    sys.exit(main())
