/* Live notices: a small listener for the StackWatch notifier.
 *
 * The layout gives the notifier's WebSocket URL in <body data-ws-url> and,
 * on a results page, the search's id in data-search-id.  Each message says
 * that a search was refreshed; it is shown as a notice built from DOM nodes
 * and textContent only, never as HTML.  On that search's own page the notice
 * offers a reload link, elsewhere a link to the search.
 *
 * The last event id seen is kept in sessionStorage and sent when the socket
 * is opened again (after a drop or on the next page), so the notifier can
 * send what was missed.  Drops are retried with capped exponential backoff
 * and jitter.  Pages work without this script; it only adds the notices.
 */
(function () {
  "use strict";

  var STORAGE_KEY = "stackwatch.lastEventId";
  var FIRST_DELAY = 1000; // ms, before the first reconnection
  var MAX_DELAY = 60000; // ms, the backoff's cap
  var MAX_NOTICES = 5;

  var body = document.body;
  var box = document.getElementById("notices");
  var baseUrl = body && body.getAttribute("data-ws-url");
  if (!box || !baseUrl || !("WebSocket" in window)) {
    return;
  }
  var pageSearchId = body.getAttribute("data-search-id") || "";
  var failures = 0;
  var seen = {}; // event ids already counted on this page
  var notices = {}; // search id -> {added, changed, node}

  function lastEventId() {
    try {
      var value = window.sessionStorage.getItem(STORAGE_KEY);
      return /^[0-9]{1,15}$/.test(value || "") ? Number(value) : 0;
    } catch (e) {
      return 0; // storage refused (privacy settings): catch-up is skipped
    }
  }

  function remember(eventId) {
    if (eventId <= lastEventId()) {
      return;
    }
    try {
      window.sessionStorage.setItem(STORAGE_KEY, String(eventId));
    } catch (e) {
      // Nothing to do: the next connection just starts from now.
    }
  }

  function socketUrl() {
    var last = lastEventId();
    if (!last) {
      return baseUrl;
    }
    var joiner = baseUrl.indexOf("?") === -1 ? "?" : "&";
    return baseUrl + joiner + "last_event_id=" + last;
  }

  function connect() {
    var socket;
    try {
      socket = new WebSocket(socketUrl());
    } catch (e) {
      return; // a malformed URL will not get better by retrying
    }
    socket.onopen = function () {
      failures = 0;
    };
    socket.onmessage = function (event) {
      receive(event.data);
    };
    socket.onclose = reconnectLater;
  }

  function reconnectLater() {
    var ceiling = Math.min(MAX_DELAY, FIRST_DELAY * Math.pow(2, failures));
    failures += 1;
    // Half fixed, half random: pages that lost the same notifier come back
    // spread out instead of all at once.
    window.setTimeout(connect, ceiling / 2 + Math.random() * (ceiling / 2));
  }

  function receive(data) {
    var message;
    try {
      message = JSON.parse(data);
    } catch (e) {
      return;
    }
    if (!message || typeof message !== "object") {
      return;
    }
    var eventId = count(message.event_id);
    var searchId = count(message.search_id);
    if (!eventId || !searchId || seen[eventId]) {
      return;
    }
    seen[eventId] = true;
    remember(eventId);

    var added = count(message["new"]);
    var changed = count(message.changed);
    if (added + changed > 0) {
      show(searchId, message, added, changed);
    }
  }

  function count(value) {
    return typeof value === "number" && value >= 0 && value % 1 === 0 ? value : 0;
  }

  function show(searchId, message, added, changed) {
    // Several refreshes of one search add up in one notice.
    var entry = notices[searchId] || { added: 0, changed: 0, node: null };
    entry.added += added;
    entry.changed += changed;
    var node = buildNotice(searchId, message, entry);

    if (entry.node && entry.node.parentNode === box) {
      box.removeChild(entry.node);
    }
    box.insertBefore(node, box.firstChild);
    entry.node = node;
    notices[searchId] = entry;
    while (box.children.length > MAX_NOTICES) {
      box.removeChild(box.lastChild);
    }
  }

  function buildNotice(searchId, message, entry) {
    var own = String(searchId) === pageSearchId;
    var node = document.createElement("p");
    node.className = "notice";
    node.setAttribute("data-search-id", String(searchId));

    var text = document.createElement("span");
    text.textContent =
      label(message.site) + " · " + label(message.query) + ": " +
      entry.added + " new, " + entry.changed + " changed —";
    node.appendChild(text);

    var link = document.createElement("a");
    link.href = own ? window.location.href.split("#")[0] : pageUrl(message, searchId);
    link.textContent = own ? "reload" : "open";
    node.appendChild(link);

    var dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "dismiss";
    dismiss.setAttribute("aria-label", "Dismiss");
    dismiss.textContent = "×";
    dismiss.onclick = function () {
      if (node.parentNode) {
        node.parentNode.removeChild(node);
      }
      delete notices[searchId];
    };
    node.appendChild(dismiss);
    return node;
  }

  function label(value) {
    return typeof value === "string" && value ? value : "(no text)";
  }

  // The message's link only if it stays on this site; a path otherwise.
  function pageUrl(message, searchId) {
    var fallback = "/searches/" + searchId;
    try {
      var given = message.page_url || message.url || fallback;
      var url = new URL(given, window.location.href);
      return url.origin === window.location.origin ? url.href : fallback;
    } catch (e) {
      return fallback;
    }
  }

  connect();
})();
