from pyramid.config import Configurator

from . import settings as stackwatch_settings


def main(global_config, **settings):
    """Build the StackWatch WSGI application from the ini's ``[app:main]``."""
    parsed = stackwatch_settings.parse(settings)
    settings = dict(settings, **{"sqlalchemy.url": parsed.database_url})
    settings.setdefault("mako.directories", "webapp:templates")
    settings.setdefault("mako.default_filters", "h")
    settings.setdefault("mako.strict_undefined", "true")

    with Configurator(settings=settings) as config:
        config.registry.stackwatch = parsed
        config.include("pyramid_mako")
        config.include(".models")
        config.include(".services")
        config.include(".cache")
        config.include(".routes")
        config.include(".notifications")
        config.include(".security")
        config.scan(".views")
    return config.make_wsgi_app()
