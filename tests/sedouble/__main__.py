"""Run the Stack Exchange test double in the foreground.

    python -m tests.sedouble [--host 127.0.0.1] [--port 6590] [--data-dir DIR]

It logs its API root once it listens and stops cleanly on SIGTERM or Ctrl-C.
Drive it over HTTP through the ``/__control/`` endpoints described in
``server.py``.
"""

import argparse
import logging
import signal
import sys
import threading

from .server import SEDouble

log = logging.getLogger("tests.sedouble")


def main(argv: list[str] | None = None) -> int:
    """Serve until a signal arrives; return the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.sedouble",
        description="Serve recorded Stack Exchange data like API 2.3.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
    parser.add_argument("--port", type=int, default=6590, help="0 picks a free one")
    parser.add_argument("--data-dir", help="directory with questions.jsonl")
    args = parser.parse_args(argv)

    # A stand-alone tool has no ini file to configure logging from.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        double = SEDouble(args.host, args.port, args.data_dir).start()
    except ValueError as exc:
        parser.error(str(exc))
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("serving Stack Exchange API double at %s", double.url)

    # Wake up now and then so signals are handled promptly on every platform.
    while not stop.wait(0.5):
        pass
    double.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
