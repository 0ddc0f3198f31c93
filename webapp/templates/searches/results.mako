<%inherit file="../layout.mako"/>
<%namespace name="p" file="../pager.mako"/>
<%def name="page_title()">${search.query or "Search"} on ${search.site.api_name}</%def>
<%def name="search_id()">${search.id}</%def>
<%!
from datetime import datetime, timezone

def day(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M") if epoch else ""
%>
<div class="heading">
  <h1>Search on ${search.site.api_name}: &ldquo;${search.query}&rdquo;</h1>
  ${p.size_picker(browse, page_sizes, "search.results", id=search.id)}
</div>
<p class="meta">
% if description:
  ${description} ·
% endif
  searched ${search.created_at.strftime("%Y-%m-%d %H:%M")} UTC ·
  ${stored} ${"row" if stored == 1 else "rows"} stored for this order
% if search.refreshed_at:
  · refreshed ${search.refreshed_at.strftime("%Y-%m-%d %H:%M")} UTC
% endif
% if quota:
  · Stack Exchange quota left today: ${quota[1]} of ${quota[0]}
% endif
</p>
% if problem:
<p class="warning" role="alert">${problem}
% if rows:
  Showing what is stored.
% endif
</p>
% endif
<table class="results">
  <thead>
    <tr>
      <th title="Place in the current order">#</th>
      ${p.sort_header(browse, "relevance", "Title (by relevance)", "search.results", sortable="relevance" in sorts, id=search.id)}
      ${p.sort_header(browse, "votes", "Score", "search.results", sortable="votes" in sorts, id=search.id)}
      <th>Answers</th>
      <th>Views</th>
      <th>Tags</th>
      <th>Author</th>
      ${p.sort_header(browse, "creation", "Created", "search.results", sortable="creation" in sorts, id=search.id)}
      ${p.sort_header(browse, "activity", "Last activity", "search.results", sortable="activity" in sorts, id=search.id)}
    </tr>
  </thead>
  <tbody>
  % for row in rows:
<% q = row.question; mark = row_class(q, new_ids, changed_ids) %>
    <tr data-question-id="${q.question_id}" class="${mark}">
      <td class="num">${row.position + 1}</td>
      <td class="title"><a href="${q.link}">${q.title}</a>
      % if q.closed_date:
        <span class="tag closed">closed</span>
      % endif
      % if mark == "new":
        <span class="tag new">new</span>
      % elif mark == "changed":
        <span class="tag changed" title="score was ${q.previous_score}">changed</span>
      % endif
      </td>
      <td class="num">${q.score}</td>
      <td class="num ${'accepted' if q.accepted_answer_id else ''}">${q.answer_count}${" \u2713" if q.accepted_answer_id else ""}</td>
      <td class="num">${q.view_count}</td>
      <td class="tags">${" ".join(q.tag_names)}</td>
      <td>
      % if q.owner and q.owner.link:
        <a href="${q.owner.link}">${q.owner.display_name}</a>
      % else:
        ${q.owner_name or "(deleted user)"}
      % endif
      </td>
      <td class="when">${day(q.creation_date)}</td>
      <td class="when">${day(q.last_activity_date)}</td>
    </tr>
  % endfor
  % if not rows:
    <tr><td colspan="9" class="empty">
    % if problem:
      Nothing stored for this page yet.
    % else:
      No questions match this search.
    % endif
    </td></tr>
  % endif
  </tbody>
</table>
${p.pager_links(browse, pager, "search.results", id=search.id)}
% if page_limit and pager.more:
<p class="note">Without an app key Stack Exchange serves ${page_limit * 100} results of a search at most.</p>
% endif
<%!
def row_class(q, new_ids, changed_ids):
    # Marks what the search's last refresh found, as it recorded it.
    if q.question_id in new_ids:
        return "new"
    if q.question_id in changed_ids:
        return "changed"
    return ""
%>
