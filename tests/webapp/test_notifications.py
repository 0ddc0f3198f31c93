"""The page side of live notices: the notifier's URL, the script, the CSP."""

import re

import pytest
from pyramid import testing

from webapp.notifications import notifier_url, websocket_origin


def request_for(host, public_url="", port=6545):
    request = testing.DummyRequest(host=host)
    request.registry.stackwatch = type(
        "Settings",
        (),
        dict(
            notifier_public_url=public_url,
            notifier_port=port,
            notifier_host="127.0.0.1",
        ),
    )
    return request


class TestNotifierURL:
    @pytest.mark.parametrize(
        "host, expected",
        [
            ("127.0.0.1:6553", "ws://127.0.0.1:6545/ws"),
            ("localhost:6553", "ws://localhost:6545/ws"),
            ("stackwatch.example", "ws://stackwatch.example:6545/ws"),
            ("[::1]:6553", "ws://[::1]:6545/ws"),
        ],
    )
    def test_is_the_notifier_port_on_the_page_host(self, host, expected):
        assert notifier_url(request_for(host)) == expected

    def test_public_url_wins(self):
        request = request_for(
            "127.0.0.1:6553", public_url="wss://stackwatch.example/ws"
        )

        assert notifier_url(request) == "wss://stackwatch.example/ws"

    def test_hostile_host_header_falls_back_to_the_notifier_host(self):
        request = request_for('evil"; script-src *:80')

        assert notifier_url(request) == "ws://127.0.0.1:6545/ws"

    def test_origin_for_the_csp(self):
        request = request_for("localhost:6553")
        request.notifier_url = notifier_url(request)

        assert websocket_origin(request) == "ws://localhost:6545"


class TestLayout:
    def test_body_names_the_notifier_and_the_script_is_deferred(self, testapp):
        response = testapp.get("/", extra_environ={"HTTP_HOST": "127.0.0.1:6553"})

        assert 'data-ws-url="ws://127.0.0.1:6545/ws"' in response.text
        script = re.search(r"<script[^>]*notify\.js[^>]*>", response.text).group(0)
        assert " defer" in script

    def test_pages_have_no_inline_script(self, testapp):
        response = testapp.get("/")

        for tag in re.findall(r"<script[^>]*>", response.text):
            assert "src=" in tag

    def test_csp_lets_pages_connect_to_the_notifier(self, testapp):
        response = testapp.get("/", extra_environ={"HTTP_HOST": "localhost:6553"})

        assert "ws://localhost:6545" in response.headers["Content-Security-Policy"]

    def test_script_is_served(self, testapp):
        response = testapp.get("/static/notify.js")

        assert "new WebSocket(" in response.text
        assert "innerHTML" not in response.text
