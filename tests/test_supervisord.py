"""The whole stack under supervisord, started as the README says.

A copy of supervisord.conf and production.ini in a temporary folder (with
the test's virtualenv as its .venv) runs on free loopback ports set through
the STACKWATCH_* variables, against the API test double.
"""

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis
from websockets.sync.client import connect

from tests.servers import free_port

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROGRAMS = ("redis", "web", "refresher", "notifier")


class Stack:
    def __init__(self, folder: Path, env: dict):
        self.folder = folder
        self.env = env
        self.http_url = f"http://127.0.0.1:{env['STACKWATCH_HTTP_PORT']}"
        self.process = None

    def run(self, *command, check=True):
        return subprocess.run(
            command,
            cwd=self.folder,
            env=self.env,
            check=check,
            capture_output=True,
            text=True,
        )

    def ctl(self, *args, check=True):
        return self.run(
            BIN / "supervisorctl", "-c", "supervisord.conf", *args, check=check
        )

    def start(self):
        self.run(BIN / "stackwatch-initdb", "production.ini")
        with open(self.folder / "supervisord.out", "wb") as log:
            self.process = subprocess.Popen(
                [BIN / "supervisord", "-n", "-c", "supervisord.conf"],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self):
        if self.process is None:
            return
        self.ctl("shutdown", check=False)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def get(self, path, timeout=60.0):
        """GET ``path`` from the web app, waiting for it to come up."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(
                    self.http_url + path, timeout=5
                ) as response:
                    return response.status, response.read().decode()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.25)

    def states(self):
        output = self.ctl("status", check=False).stdout
        return dict(line.split()[:2] for line in output.splitlines() if line.strip())

    def wait_running(self, names, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.states()
            if all(states.get(name) == "RUNNING" for name in names):
                return states
            time.sleep(0.25)
        raise AssertionError(f"not all of {names} RUNNING: {self.states()}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, sedouble):
    folder = tmp_path_factory.mktemp("stack")
    for name in ("supervisord.conf", "production.ini"):
        shutil.copy(REPO / name, folder / name)
    (folder / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    env = dict(
        os.environ,
        STACKWATCH_HTTP_PORT=str(free_port()),
        STACKWATCH_WS_PORT=str(free_port()),
        STACKWATCH_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        STACKWATCH_DATABASE_URL=f"sqlite:///{folder / 'var' / 'stackwatch.sqlite'}",
        STACKWATCH_API_URL=sedouble.url,
    )
    stack = Stack(folder, env)
    stack.start()
    yield stack
    stack.stop()


def test_every_program_runs_and_answers(stack):
    status, _ = stack.get("/")
    states = stack.wait_running(PROGRAMS)

    assert status == 200
    assert set(states) == set(PROGRAMS)
    redis_url = stack.env["STACKWATCH_REDIS_URL"]
    assert redis.Redis.from_url(redis_url, socket_timeout=1).ping()
    ws_url = f"ws://127.0.0.1:{stack.env['STACKWATCH_WS_PORT']}/ws"
    with connect(ws_url, origin=stack.http_url, open_timeout=10) as websocket:
        assert websocket.response.status_code == 101


def test_programs_log_under_var_log(stack):
    stack.get("/")

    logs = {path.name for path in (stack.folder / "var" / "log").iterdir()}

    assert {"supervisord.log", "redis.log", "web.log"} <= logs


def test_restart_of_web_keeps_the_saved_searches(stack):
    stack.get("/")
    status, page = stack.get("/search?site=stackoverflow&q=supervised")
    assert status == 200 and "supervised" in page

    stack.ctl("restart", "web")
    stack.wait_running(["web"])
    status, page = stack.get("/")

    assert status == 200
    assert "supervised" in page
