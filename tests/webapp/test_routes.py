"""Every route of the app, so that a URL change is always deliberate."""


def test_routes_are_the_expected_ones(app):
    mapper = app.registry.getUtility(
        __import__("pyramid.interfaces").interfaces.IRoutesMapper
    )

    routes = {route.name: route.pattern for route in mapper.get_routes()}

    assert routes == {
        "__static/": "static/*subpath",
        "searches.list": "/",
        "search.new": "/search",
        "search.results": "/searches/{id}",
    }
