## Shared pieces of the list pages: page-size picker, sortable headers, pager.
<%def name="size_picker(browse, page_sizes, route, **kw)">
<form class="picker" method="get" action="${request.route_url(route, **kw)}">
  <input type="hidden" name="sort" value="${browse.sort}">
  <input type="hidden" name="order" value="${browse.order}">
  <label>Rows per page
    <select name="pagesize">
    % for size in page_sizes:
      <option value="${size}" ${'selected' if size == browse.pagesize else ''}>${size}</option>
    % endfor
    </select>
  </label>
  <button type="submit">Show</button>
</form>
<nav class="sizes" aria-label="Rows per page">
% for size in page_sizes:
  % if size == browse.pagesize:
  <strong>${size}</strong>
  % else:
  <a href="${request.route_url(route, _query=browse.query(pagesize=size, page=1), **kw)}">${size}</a>
  % endif
% endfor
</nav>
</%def>

<%def name="sort_header(browse, column, label, route, sortable=True, **kw)">
% if not sortable:
<th>${label}</th>
% elif browse.sort == column:
<%
    flipped = "asc" if browse.order == "desc" else "desc"
    arrow = "\u25bc" if browse.order == "desc" else "\u25b2"
%>
<th class="sorted" aria-sort="${'descending' if browse.order == 'desc' else 'ascending'}">
  <a href="${request.route_url(route, _query=browse.query(order=flipped, page=1), **kw)}">${label} ${arrow}</a>
</th>
% else:
<th><a href="${request.route_url(route, _query=browse.query(sort=column, order='desc', page=1), **kw)}">${label}</a></th>
% endif
</%def>

<%def name="pager_links(browse, pager, route, **kw)">
<nav class="pager" aria-label="Pages">
% if pager.has_previous:
  <a rel="first" href="${request.route_url(route, _query=browse.query(page=1), **kw)}">&laquo; First</a>
  <a rel="prev" href="${request.route_url(route, _query=browse.query(page=browse.page - 1), **kw)}">&lsaquo; Previous</a>
% else:
  <span class="off">&laquo; First</span> <span class="off">&lsaquo; Previous</span>
% endif
  <span class="current">Page ${browse.page}
  % if pager.last:
  of ${pager.last}
  % endif
  </span>
% if pager.has_next:
  <a rel="next" href="${request.route_url(route, _query=browse.query(page=browse.page + 1), **kw)}">Next &rsaquo;</a>
% else:
  <span class="off">Next &rsaquo;</span>
% endif
% if pager.last and browse.page < pager.last:
  <a rel="last" href="${request.route_url(route, _query=browse.query(page=pager.last), **kw)}">Last &raquo;</a>
% elif pager.last is None:
  <span class="off" title="The number of results is known once the last page has been fetched">Last &raquo;</span>
% else:
  <span class="off">Last &raquo;</span>
% endif
</nav>
</%def>
