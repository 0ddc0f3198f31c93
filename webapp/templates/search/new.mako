<%inherit file="../layout.mako"/>
<%def name="page_title()">New search</%def>
<h1>New search</h1>
% if error:
<p class="error" role="alert">Please check the form. ${error.field}: ${error.message}</p>
% endif
% if sites_error:
<p class="warning">The list of sites could not be fetched from Stack Exchange (${sites_error}); type the site's API name, for example stackoverflow.</p>
% endif
<form class="search" method="get" action="${request.route_url('search.new')}">
  <p class="main">
    <label for="site">Site</label>
    % if sites:
    <select id="site" name="site">
      % for api_name, name in sites:
      <option value="${api_name}" ${'selected' if api_name == form['site'] else ''}>${name} (${api_name})</option>
      % endfor
    </select>
    % else:
    <input id="site" name="site" value="${form['site']}" required>
    % endif
    <label for="q">Search for</label>
    <input id="q" name="q" value="${form['q']}" size="40" maxlength="500" autofocus>
    <button type="submit">Search</button>
  </p>
  <fieldset>
    <legend>Advanced filters</legend>
    % for f in filter_specs:
      % if f.name != "q":
    <p>
      <label for="${f.name}">${f.label}</label>
        % if f.kind == "bool":
      <select id="${f.name}" name="${f.name}">
        % for value, label in (("", "any"), ("true", "yes"), ("false", "no")):
        <option value="${value}" ${'selected' if form[f.name] == value else ''}>${label}</option>
        % endfor
      </select>
        % elif f.kind == "date":
      <input id="${f.name}" name="${f.name}" type="date" value="${form[f.name]}">
        % elif f.kind in ("count", "user"):
      <input id="${f.name}" name="${f.name}" inputmode="numeric" pattern="[0-9]*" value="${form[f.name]}">
        % else:
      <input id="${f.name}" name="${f.name}" value="${form[f.name]}" maxlength="500">
        % endif
        % if f.help:
      <small>${f.help}</small>
        % endif
    </p>
      % endif
    % endfor
  </fieldset>
  <p>
    <label for="pagesize">Rows per page</label>
    <select id="pagesize" name="pagesize">
      % for size in page_sizes:
      <option value="${size}" ${'selected' if size == pagesize else ''}>${size}</option>
      % endfor
    </select>
  </p>
</form>
