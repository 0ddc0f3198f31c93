"""A local test double of the Stack Exchange API 2.3 serving recorded data.

Start one in a test with ``with SEDouble() as api:`` and point the client at
``api.url``; see ``server.py`` for the wire behaviour and the controls.
"""

from .server import SEDouble, call_control

__all__ = ["SEDouble", "call_control"]
