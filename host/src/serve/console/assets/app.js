// weft console: follows the view's live stream (server-sent events carrying
// the view's HTML, already escaped by the server) and filters the tools
// table as you type. Without this script the page is a static snapshot.
(function () {
  "use strict";
  var main = document.getElementById("view");
  var live = document.getElementById("live");
  if (!main) return;

  function mark(state, text) {
    if (!live) return;
    live.setAttribute("data-state", state);
    live.textContent = text;
  }

  function filterTools() {
    var box = document.getElementById("q");
    if (!box) return;
    var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    var rows = main.querySelectorAll("tr[data-search]");
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var text = rows[i].getAttribute("data-search");
      var keep = words.every(function (w) { return text.indexOf(w) >= 0; });
      rows[i].hidden = !keep;
      if (keep) shown++;
    }
    var count = main.querySelector("h1 .count");
    if (count && words.length) count.textContent = shown;
  }

  main.addEventListener("input", function (e) {
    if (e.target && e.target.id === "q") filterTools();
  });

  var view = main.getAttribute("data-events");
  if (!view || !window.EventSource) return;
  var query = window.location.search.replace(/^\?/, "");
  var url = "/ui/events?view=" + encodeURIComponent(view) + (query ? "&" + query : "");
  var source = new EventSource(url);
  source.addEventListener("open", function () { mark("live", "live"); });
  source.addEventListener("error", function () { mark("reconnecting", "reconnecting…"); });
  source.addEventListener("view", function (e) {
    var data;
    try { data = JSON.parse(e.data); } catch (_) { return; }
    // Keep what is being typed and which details are open across updates.
    var focused = document.activeElement && document.activeElement.id;
    var typed = focused === "q" ? document.activeElement.value : null;
    var open = {};
    main.querySelectorAll("tr[data-tool] details[open]").forEach(function (d) {
      open[d.closest("tr").getAttribute("data-tool")] = true;
    });
    main.innerHTML = data.html;
    Object.keys(open).forEach(function (name) {
      main.querySelectorAll("tr[data-tool]").forEach(function (tr) {
        if (tr.getAttribute("data-tool") === name) {
          var d = tr.querySelector("details");
          if (d) d.open = true;
        }
      });
    });
    if (typed !== null) {
      var box = document.getElementById("q");
      if (box) { box.value = typed; box.focus(); }
    }
    filterTools();
    mark("live", "live");
    main.setAttribute("data-updated", String(Date.now()));
  });
})();
