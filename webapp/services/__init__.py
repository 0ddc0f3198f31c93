"""Work that needs no request: the API client, storage, searches and results."""
from .api_state import DatabaseState
from .stackexchange import client_from_settings


def includeme(config):
    settings = config.registry.stackwatch
    state = DatabaseState(config.registry["dbsession_factory"])
    config.registry["se_state"] = state

    def se_client(request):
        return client_from_settings(settings, request.registry["se_state"])

    config.add_request_method(se_client, reify=True)
