"""Page cache benchmark: a cache hit, a miss rendered from the database, a bare view.

Starts on loopback the API test double, a Redis server and one web server:
the app of production.ini (with local URLs and a fresh SQLite database)
under waitress in a child process, plus a route of this bench alone,
``/__bench/bare``, whose view does nothing.  One search is saved and its
first page fetched, so its rows are in the database.  Then, one kind after
the other against that same server, client threads on keep-alive
connections send requests for a few seconds:

* hit:  the search's results page, always the same URL (``X-Cache: HIT``);
* miss: the same page under a host name new on every request (the cache
  key keeps the host, since pages hold absolute links), so each one renders
  from the database (``X-Cache: MISS``) and is stored;
* bare: the do-nothing view, through the same tweens and router.

Prints requests per second and latency (p50, p99) for each, and the ratios
the page cache aims at: a hit at least 0.8 of the bare view, and at least
10 times a miss.  Usage:

    .venv/bin/python bench/cache_bench.py [--clients 1 4] [--rounds 5] [--seconds 1]
"""

from __future__ import annotations

import argparse
import http.client
import logging
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INI = str(ROOT / "production.ini")
BARE_PATH = "/__bench/bare"
THREADS = 8


def includeme(config):
    """Add the bare route; the child server includes this module."""
    from pyramid.response import Response

    def bare(request):
        return Response(b"", content_type="text/plain")

    config.add_route("bench.bare", BARE_PATH)
    config.add_view(bare, route_name="bench.bare")


def serve(port: int) -> None:
    """Child process: production.ini's app plus the bare route, on waitress."""
    import waitress
    from pyramid.paster import get_appsettings

    import webapp

    # Waitress warns when requests queue for a thread, as they do here.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    settings = dict(get_appsettings(INI))
    settings["pyramid.includes"] += "\ncache_bench"
    # Hits must stay hits for the whole run, which outlasts production's TTL.
    settings["cache.ttl"] = "3600"
    app = webapp.main({}, **settings)
    waitress.serve(app, host="127.0.0.1", port=port, threads=THREADS, _quiet=True)


@dataclass
class Kind:
    name: str
    path: str
    expect_cache: str | None
    unique: bool = False  # ask under a new host name every time
    latencies: dict[int, list[float]] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def rate(self, clients: int) -> float:
        return len(self.latencies[clients]) / self.seconds[clients]


def client(port: int, kind: Kind, deadline: float, results) -> None:
    """One client process: requests on one keep-alive connection until ``deadline``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies, errors = [], []
    while time.perf_counter() < deadline:
        path = kind.path
        headers = {"Host": f"{uuid.uuid4().hex}.bench"} if kind.unique else {}
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        cache = response.getheader("X-Cache")
        if response.status != 200 or cache != kind.expect_cache:
            errors.append(f"{path}: {response.status} X-Cache {cache}")
    connection.close()
    results.put((latencies, errors))


def hammer(port: int, kind: Kind, clients: int, seconds: float) -> None:
    """Send ``kind``'s requests from ``clients`` processes for ``seconds``.

    Processes rather than threads, so that the clients' own Python does not
    become the bottleneck of a server that answers fast.
    """
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    deadline = time.perf_counter() + seconds
    processes = [
        context.Process(target=client, args=(port, kind, deadline, results))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    gathered = [results.get() for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    latencies = kind.latencies.setdefault(clients, [])
    latencies += [took for part, _ in gathered for took in part]
    kind.seconds[clients] = kind.seconds.get(clients, 0.0) + elapsed
    kind.errors += [error for _, part in gathered for error in part]


def get(port: int, path: str) -> tuple[int, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, dict(response.getheaders())


def wait_for(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            get(port, BARE_PATH)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def seed(port: int) -> str:
    """Save one search and store its first page; return its results path."""
    status, headers = get(port, "/search?site=stackoverflow&q=python")
    if status != 303:
        raise RuntimeError(f"saving the bench search answered {status}")
    path = "/" + headers["Location"].split("/", 3)[3]
    status, _ = get(port, path)
    if status != 200:
        raise RuntimeError(f"the bench search's page answered {status}")
    return path


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(kinds: list[Kind], levels: list[int]) -> int:
    print(f"waitress with {THREADS} threads in one process; clients are processes")
    print(f"{'clients':>7} {'kind':5} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for clients in levels:
        for kind in kinds:
            latencies = kind.latencies[clients]
            p50 = statistics.median(latencies) * 1000
            p99 = percentile(latencies, 0.99) * 1000
            rate = kind.rate(clients)
            print(f"{clients:7d} {kind.name:5} {rate:7.0f} {p50:7.2f} {p99:7.2f}")
    hit, bare, miss = (
        next(k for k in kinds if k.name == n) for n in ("hit", "bare", "miss")
    )
    print(f"{'clients':>7} {'hit/bare':>9} {'hit/miss':>9}   (goals: >= 0.8, >= 10)")
    for clients in levels:
        hit_bare = hit.rate(clients) / bare.rate(clients)
        hit_miss = hit.rate(clients) / miss.rate(clients)
        print(f"{clients:7d} {hit_bare:9.2f} {hit_miss:9.1f}")
    errors = [error for kind in kinds for error in kind.errors]
    for error in errors[:10]:
        print("error:", error)
    return 1 if errors else 0


def run(levels: list[int], rounds: int, seconds: float) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.sedouble import SEDouble
    from tests.servers import RedisServer, free_port
    from webapp.scripts.initialize_db import migrate

    with tempfile.TemporaryDirectory(prefix="cache-bench-") as scratch:
        database_url = f"sqlite:///{scratch}/bench.sqlite"
        migrate(database_url)
        redis_server = RedisServer(Path(scratch) / "redis").start()
        api = SEDouble().start()
        port = free_port()
        env = dict(
            os.environ,
            STACKWATCH_DATABASE_URL=database_url,
            STACKWATCH_REDIS_URL=redis_server.url,
            STACKWATCH_API_URL=api.url,
        )
        command = [sys.executable, __file__, "--serve", str(port)]
        server = subprocess.Popen(command, env=env)
        try:
            wait_for(port)
            results = seed(port)
            kinds = [
                Kind("bare", BARE_PATH, None),
                Kind("hit", results, "HIT"),
                Kind("miss", results, "MISS", unique=True),
            ]
            get(port, results)  # the page is cached from here on
            # Short rounds of each kind in turn, so that whatever else the
            # machine does weighs on the three kinds alike.
            for clients in levels:
                for _ in range(rounds):
                    for kind in kinds:
                        hammer(port, kind, clients, seconds)
        finally:
            server.terminate()
            server.wait()
            api.stop()
            redis_server.stop()
    return report(kinds, levels)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients",
        type=int,
        nargs="+",
        default=[1, 4],
        help="numbers of concurrent clients to measure at",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each kind")
    parser.add_argument("--seconds", type=float, default=1.0, help="of one round")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    return run(args.clients, args.rounds, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
