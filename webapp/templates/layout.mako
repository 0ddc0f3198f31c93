<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${self.page_title()} · StackWatch</title>
  <link rel="stylesheet" href="${request.static_url('webapp:static/style.css')}">
  <script src="${request.static_url('webapp:static/notify.js')}" defer></script>
</head>
<body data-search-id="${self.search_id()}" data-ws-url="${request.notifier_url}">
  <header class="top">
    <a class="brand" href="${request.route_url('searches.list')}">StackWatch</a>
    <nav>
      <a href="${request.route_url('searches.list')}">All searches</a>
      <a class="button" href="${request.route_url('search.new')}">New search</a>
    </nav>
  </header>
  <div id="notices" class="notices" aria-live="polite"></div>
  <main>
${next.body()}
  </main>
  <footer>
    Questions, titles and names come from Stack Exchange sites and are licensed
    CC BY-SA by their authors; each title links to its question.
  </footer>
</body>
</html>
<%def name="page_title()">StackWatch</%def>
<%def name="search_id()"></%def>
