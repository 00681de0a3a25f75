// The console's live sign-in log: opens rows, and adds new sign-ins as they
// arrive (server-sent events carrying rendered rows). Plain JavaScript, no
// dependencies.
(function () {
  "use strict";
  var body = document.getElementById("log-body");
  var live = document.getElementById("live");
  if (!body) { return; }

  body.addEventListener("click", function (e) {
    var b = e.target.closest("button.open");
    if (!b) { return; }
    var d = document.getElementById(b.getAttribute("aria-controls"));
    var open = b.getAttribute("aria-expanded") === "true";
    b.setAttribute("aria-expanded", String(!open));
    b.firstChild.nodeValue = open ? "Open" : "Close";
    d.hidden = open;
  });

  if (!window.EventSource) { return; }
  var q = new URLSearchParams();
  ["app", "outcome", "after"].forEach(function (k) {
    var v = body.dataset[k];
    if (v) { q.set(k, v); }
  });
  var src = new EventSource("/console/events?" + q.toString());
  src.addEventListener("open", function () { document.body.dataset.live = "on"; });
  src.addEventListener("error", function () { document.body.dataset.live = "off"; });
  src.addEventListener("signin", function (e) {
    var tpl = document.createElement("template");
    tpl.innerHTML = e.data;
    var empty = document.getElementById("log-empty");
    if (empty) { empty.remove(); }
    var row = tpl.content.querySelector("tr.signin");
    body.insertBefore(tpl.content, body.firstChild);
    if (row) {
      live.textContent = "New sign-in: " + row.querySelector(".outcome").textContent;
    }
  });
})();
