<%inherit file="../layout.mako"/>
<%namespace name="p" file="../pager.mako"/>
<%def name="page_title()">All searches</%def>
<%! from webapp.services.refresh import describe_age %>
<div class="heading">
  <h1>All searches</h1>
  ${p.size_picker(browse, page_sizes, "searches.list")}
</div>
% if not searches and browse.page == 1:
<p class="empty">No searches yet. <a href="${request.route_url('search.new')}">Run the first one.</a></p>
% else:
<table class="results">
  <thead>
    <tr>
      ${p.sort_header(browse, "created", "Searched at", "searches.list")}
      ${p.sort_header(browse, "site", "Site", "searches.list")}
      ${p.sort_header(browse, "query", "Search", "searches.list")}
      <th>Filters</th>
      ${p.sort_header(browse, "rows", "Rows stored", "searches.list")}
      ${p.sort_header(browse, "refreshed", "Last refreshed", "searches.list")}
      <th></th>
    </tr>
  </thead>
  <tbody>
  % for s in searches:
    <tr data-search-id="${s.id}">
      <td class="when">${s.created_at.strftime("%Y-%m-%d %H:%M")}</td>
      <td>${s.site.api_name}</td>
      <td class="query">${s.query}</td>
      <td class="filters">${describe(s)}</td>
      <td class="num">${s.row_count}</td>
      % if s.refreshed_at:
      <td class="when" title="${s.refreshed_at.strftime('%Y-%m-%d %H:%M')} UTC">refreshed ${describe_age(s.refreshed_at)}
      % if s.id in last_refreshes:
        <span class="counts">${last_refreshes[s.id].new_count} new, ${last_refreshes[s.id].changed_count} changed</span>
      % endif
      </td>
      % else:
      <td class="when">never</td>
      % endif
      <td><a class="button" href="${request.route_url('search.results', id=s.id)}">Show</a></td>
    </tr>
  % endfor
  </tbody>
</table>
${p.pager_links(browse, pager, "searches.list")}
% endif
