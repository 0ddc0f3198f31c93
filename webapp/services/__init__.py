"""Work that needs no request: the API client, storage, searches and results."""

from .api_state import DatabaseState, RedisState
from .fetch_claims import FetchClaims
from .redis_link import RedisLink
from .stackexchange import client_from_settings


def includeme(config):
    settings = config.registry.stackwatch
    # One Redis link per process: the page cache and the API backoff share
    # its short timeouts and its record of outages.
    redis_link = RedisLink(settings.redis_url, settings.cache_timeout)
    config.registry["redis"] = redis_link
    state = RedisState(redis_link, DatabaseState(config.registry["dbsession_factory"]))
    config.registry["se_state"] = state
    # A claim outlives the longest API call it covers.
    config.registry["fetch_claims"] = FetchClaims(
        redis_link, settings.total_timeout + 5
    )

    def se_client(request):
        return client_from_settings(settings, request.registry["se_state"])

    config.add_request_method(se_client, reify=True)
