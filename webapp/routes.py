def includeme(config):
    config.add_static_view("static", "webapp:static", cache_max_age=3600)

    # Saved searches and their results.
    config.add_route("searches.list", "/")
    config.add_route("search.new", "/search")
    config.add_route("search.results", "/searches/{id}")
