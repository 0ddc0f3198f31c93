"""Notifier fan-out benchmark: time until every open connection has a message.

Starts on loopback a Redis server and, for each connection count, a fresh
notifier: the ``stackwatch-notifier`` console script on production.ini, with
local URLs and ports given through the environment.  This process then opens
that many WebSocket connections from the app's origin, publishes messages on
the refresher's channel one at a time, and for each message measures the time
from just before PUBLISH until the last connection has received it.  The next
message goes out once every connection has the previous one.

Prints, per connection count: p50 and p99 of that time over the messages
(and of the time to the first connection), the notifier's own time to hand a
message to every connection (from its DEBUG log line), its CPU time per
message, and its resident memory (VmRSS in /proc/<pid>/status) before the
connections were opened and with them open, per connection.  The clients run
in this process on the same machine, so the end-to-end times include their
share of the CPU as well as the notifier's.  Usage:

    .venv/bin/python bench/notifier_bench.py [--clients 1000 5000] [--messages 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
INI = ROOT / "production.ini"
NOTIFIER = str(Path(sys.executable).with_name("stackwatch-notifier"))
CHANNEL = "stackwatch:updates"
# Handshakes in flight at once; more would overflow the listen backlog.
CONNECTING = 100
# Descriptors besides the connections: Redis, the database, logs, Python.
SPARE_FILES = 200
RELAYED = re.compile(r"relayed event (\d+) to (\d+) clients in ([\d.]+) ms")


@dataclass
class Round:
    """What the clients saw of one message."""

    published: float = 0.0
    first: float = 0.0
    last: float = 0.0
    count: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Clients:
    """Open WebSocket connections that note when each message arrives."""

    def __init__(self, total: int):
        self.total = total
        self.connections = []
        self.rounds: dict[int, Round] = {}
        self._readers = []

    async def open(self, url: str, origin: str) -> None:
        gate = asyncio.Semaphore(CONNECTING)

        async def one() -> None:
            async with gate:
                connection = await connect(
                    url,
                    origin=origin,
                    compression=None,
                    open_timeout=60,
                    ping_interval=None,
                )
            self.connections.append(connection)
            self._readers.append(asyncio.create_task(self._read(connection)))

        await asyncio.gather(*(one() for _ in range(self.total)))

    async def _read(self, connection) -> None:
        async for data in connection:
            now = time.perf_counter()
            current = self.rounds.get(json.loads(data)["event_id"])
            if current is None:
                continue
            current.count += 1
            if current.count == 1:
                current.first = now
            if current.count == self.total:
                current.last = now
                current.done.set()

    async def close(self) -> None:
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(
            *(c.close() for c in self.connections), return_exceptions=True
        )


def raise_open_files_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            sys.exit(f"need {needed} open files, the hard limit is {hard}")
        # The notifier, a child, inherits the raised limit.
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def vm_rss(pid: int) -> int:
    """Resident memory of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS line")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def debug_ini(scratch: Path) -> Path:
    """production.ini, with the daemons logging at DEBUG for the relay times."""
    text = INI.read_text().replace("%(here)s", str(ROOT))
    text = text.replace(
        "[logger_daemons]\nlevel = INFO", "[logger_daemons]\nlevel = DEBUG"
    )
    path = scratch / "bench.ini"
    path.write_text(text)
    return path


def start_notifier(ini: Path, env: dict, log_path: Path) -> subprocess.Popen:
    with open(log_path, "w") as log:
        return subprocess.Popen([NOTIFIER, str(ini)], env=env, stderr=log, stdout=log)


def relay_times(log_path: Path, total: int) -> list[float]:
    """The notifier's own milliseconds per message sent to all ``total``."""
    found = (RELAYED.search(line) for line in log_path.read_text().splitlines())
    return [float(m[3]) for m in found if m and int(m[2]) == total]


async def wait_listening(url: str, origin: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the notifier exited with status {process.returncode}")
        try:
            async with connect(url, origin=origin, open_timeout=2):
                return
        except OSError:
            await asyncio.sleep(0.1)
    sys.exit("the notifier did not start listening")


async def measure(total: int, messages: int, env: dict, scratch: Path) -> dict:
    """Open ``total`` connections to a fresh notifier and time ``messages``."""
    url = f"ws://127.0.0.1:{env['STACKWATCH_WS_PORT']}/ws"
    origin = f"http://127.0.0.1:{env['STACKWATCH_HTTP_PORT']}"
    log_path = scratch / f"notifier-{total}.log"
    process = start_notifier(debug_ini(scratch), env, log_path)
    publisher = aioredis.from_url(env["STACKWATCH_REDIS_URL"])
    clients = Clients(total)
    try:
        await wait_listening(url, origin, process)
        await asyncio.sleep(0.5)
        rss_before = vm_rss(process.pid)

        started = time.perf_counter()
        await clients.open(url, origin)
        connect_seconds = time.perf_counter() - started
        await asyncio.sleep(1.0)
        rss_open = vm_rss(process.pid)

        cpu_before = cpu_seconds(process.pid)
        for event_id in range(1, messages + 1):
            current = clients.rounds[event_id] = Round()
            payload = message(event_id)
            current.published = time.perf_counter()
            await publisher.publish(CHANNEL, payload)
            await asyncio.wait_for(current.done.wait(), timeout=60)
            await asyncio.sleep(0.05)
        cpu_used = cpu_seconds(process.pid) - cpu_before
    finally:
        await clients.close()
        await publisher.aclose()
        process.terminate()
        process.wait(timeout=15)

    rounds = list(clients.rounds.values())
    return dict(
        clients=total,
        connect_seconds=connect_seconds,
        all_ms=[(r.last - r.published) * 1000 for r in rounds],
        first_ms=[(r.first - r.published) * 1000 for r in rounds],
        relay_ms=relay_times(log_path, total),
        cpu_ms_per_message=cpu_used / messages * 1000,
        rss_before=rss_before,
        rss_open=rss_open,
    )


def message(event_id: int) -> str:
    """A message the size of a real one."""
    return json.dumps(
        {
            "event_id": event_id,
            "search_id": 1,
            "site": "stackoverflow",
            "query": "python asyncio websockets",
            "new": 3,
            "changed": 2,
            "time": "2026-01-01T00:00:00Z",
            "url": "/searches/1",
        }
    )


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def report(result: dict) -> None:
    total = result["clients"]
    per_connection = (result["rss_open"] - result["rss_before"]) / total
    print(f"{total} connections (opened in {result['connect_seconds']:.1f} s)")
    lines = (
        ("publish -> every client has it", "all_ms"),
        ("publish -> first client has it", "first_ms"),
        ("notifier writes it to all", "relay_ms"),
    )
    for name, key in lines:
        values = result[key]
        print(
            f"  {name}: p50 {percentile(values, 50):.1f} ms, "
            f"p99 {percentile(values, 99):.1f} ms, max {max(values):.1f} ms"
        )
    print(f"  notifier CPU per message: {result['cpu_ms_per_message']:.1f} ms")
    print(
        f"  notifier RSS: {result['rss_before'] / 2**20:.1f} MiB idle, "
        f"{result['rss_open'] / 2**20:.1f} MiB with the connections open, "
        f"{per_connection / 1024:.1f} KiB per connection"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args()
    raise_open_files_limit(max(args.clients) + SPARE_FILES)

    sys.path.insert(0, str(ROOT))
    from tests.servers import RedisServer, free_port
    from webapp.scripts.initialize_db import migrate

    with tempfile.TemporaryDirectory(prefix="notifier-bench-") as scratch:
        scratch = Path(scratch)
        database_url = f"sqlite:///{scratch / 'bench.sqlite'}"
        migrate(database_url)
        redis_server = RedisServer(scratch / "redis").start()
        try:
            for total in args.clients:
                env = dict(
                    os.environ,
                    STACKWATCH_REDIS_URL=redis_server.url,
                    STACKWATCH_DATABASE_URL=database_url,
                    STACKWATCH_WS_PORT=str(free_port()),
                    STACKWATCH_HTTP_PORT=str(free_port()),
                )
                result = asyncio.run(measure(total, args.messages, env, scratch))
                report(result)
        finally:
            redis_server.stop()
        print(f"({args.messages} messages per count, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
