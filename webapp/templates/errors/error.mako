<%inherit file="../layout.mako"/>
<%def name="page_title()">${title}</%def>
<h1>${title}</h1>
<p class="error" role="alert">${message}</p>
<p><a href="${request.route_url('searches.list')}">All searches</a> · <a href="${request.route_url('search.new')}">New search</a></p>
