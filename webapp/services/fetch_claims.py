"""One request at a time fetches a given API page of a search.

When several people open the same page that is not stored yet, or reload it
while it loads, only the first request asks the API; the others wait for
its rows to appear in the database.  The claim is a Redis key set with
``SET NX PX`` holding a token, and released with a compare-and-delete, so a
request never frees another's claim; it expires on its own if its holder
dies.  While Redis is unreachable every request may fetch: duplicates cost
quota, never correctness.
"""

from __future__ import annotations

import uuid

from .redis_link import RedisLink

KEY_PREFIX = "stackwatch:fetch:"
NOT_CLAIMED = None

# Delete the key only while it still holds the caller's token.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class FetchClaims:
    """Claims on API pages about to be fetched.

    Args:
        link: the process's Redis link.
        ttl: seconds after which a claim lapses (longer than any API call).
    """

    def __init__(self, link: RedisLink, ttl: float):
        self.link = link
        self.milliseconds = max(1, int(ttl * 1000))

    def claim(self, name: str) -> str | None:
        """A token when the caller may fetch ``name``, None while another has it."""
        token = uuid.uuid4().hex
        key = KEY_PREFIX + name
        taken = self.link.run(
            lambda client: client.set(key, token, nx=True, px=self.milliseconds),
            True,  # Redis unreachable: fetch anyway
        )
        return token if taken else NOT_CLAIMED

    def release(self, name: str, token: str) -> None:
        key = KEY_PREFIX + name
        self.link.run(lambda client: client.eval(_RELEASE, 1, key, token), None)
