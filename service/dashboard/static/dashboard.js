/* amlocal dashboard: progressive enhancement only; every page reads without it. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");  /* pages may style for "scripts run here" */

  var TERMINAL = ["Completed", "Failed", "Canceled"];

  function setStatus(el, status) {
    if (!el || el.textContent === status) return;
    el.textContent = status;
    el.className = "status s-" + status;
  }

  /* The runs table: states change live (SSE); new runs reload the rows. */
  function liveRuns(table) {
    var body = document.getElementById("runs-body");
    var source = new EventSource(table.dataset.events);
    var reloading = false, again = false;
    function reload() {  /* one fetch at a time; asked during one, it runs once more after */
      if (reloading) { again = true; return; }
      reloading = true;
      var r2count = null;
      fetch(table.dataset.rows, { credentials: "same-origin" }).then(function (r) {
        r2count = r.headers.get("x-run-count");
        return r.ok ? r.text() : null;
      })
        .then(function (html) {
          if (html !== null) {  /* the ticks as they are now, not as they were when asked */
            var checked = Array.prototype.map.call(body.querySelectorAll("input:checked"), function (i) { return i.value; });
            body.innerHTML = html;
            if (r2count) document.getElementById("run-count").textContent = r2count;
            checked.forEach(function (id) {
              var box = body.querySelector('input[value="' + CSS.escape(id) + '"]');
              if (box) box.checked = true;
            });
          }
        }).finally(function () {
          reloading = false;
          if (again) { again = false; reload(); }
        });
    }
    source.addEventListener("status", function (e) {
      var data = JSON.parse(e.data);
      var row = body.querySelector('tr[data-run-id="' + CSS.escape(data.id) + '"]');
      if (!row) { if (table.dataset.first) reload(); return; }  /* a run page 1 has not shown yet */
      var was = row.querySelector(".status").textContent;
      setStatus(row.querySelector(".status"), data.status);
      row.querySelector(".duration").textContent = data.duration;
      row.querySelector(".start").textContent = data.start;
      if (TERMINAL.indexOf(was) < 0 && TERMINAL.indexOf(data.status) >= 0) reload();  /* it ended: its metrics are in */
    });
    source.addEventListener("new", function () { if (table.dataset.first) reload(); });
  }

  /* The compare button asks for 2 to 10 runs. */
  function compareForm(form) {
    form.addEventListener("submit", function (e) {
      var n = form.querySelectorAll('input[name="run"]:checked').length;
      if (n < 2 || n > 10) { e.preventDefault(); alert("Select 2 to 10 runs to compare (" + n + " selected)."); }
    });
  }

  /* A running run's log follows live; its state too. */
  function followLog(pre) {
    var source = new EventSource(pre.dataset.follow);
    source.addEventListener("log", function (e) {
      var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.appendChild(document.createTextNode(JSON.parse(e.data)));
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    });
    source.addEventListener("status", function (e) { setStatus(document.getElementById("run-status"), JSON.parse(e.data).status); });
    source.addEventListener("end", function (e) {
      setStatus(document.getElementById("run-status"), JSON.parse(e.data).status);
      source.close();
      var note = document.getElementById("log-note");
      if (note) note.textContent = "The run has ended: reload for its metrics and files.";
    });
  }

  /* Deployment: state polled, tabs, and the Test console sends without leaving the page. */
  function pollDeployment(el) {
    function tick() {
      fetch(el.dataset.poll, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (d) {
        setStatus(el, d.state);
        document.getElementById("dep-generation").textContent = d.generation;
        document.getElementById("dep-served").textContent = d.served_generation || "—";
        document.getElementById("scoring-uri").textContent = d.scoring_uri || "—";
      }).catch(function () {}).finally(function () { setTimeout(tick, 1500); });
    }
    setTimeout(tick, 1500);
  }

  function tabs(nav) {
    var links = nav.querySelectorAll("a[data-tab]");
    document.body.classList.add("js-tabs");
    function show(name) {
      Array.prototype.forEach.call(links, function (a) {
        var on = a.dataset.tab === name;
        a.setAttribute("aria-selected", on ? "true" : "false");
        document.getElementById(a.dataset.tab).hidden = !on;
      });
    }
    Array.prototype.forEach.call(links, function (a) {
      a.addEventListener("click", function (e) { e.preventDefault(); show(a.dataset.tab); history.replaceState(null, "", "#" + a.dataset.tab); });
    });
    var wanted = (location.hash || "#overview").slice(1);
    show(document.getElementById(wanted) && nav.querySelector('[data-tab="' + wanted + '"]') ? wanted : "overview");
  }

  function testConsole(form) {
    var result = document.getElementById("test-result");
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      result.textContent = "Sending…";
      fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (d) {
          result.innerHTML = "";
          var p = document.createElement("p");
          p.append("Status ");
          var s = document.createElement("strong"); s.id = "test-status"; s.textContent = d.status === null ? "—" : d.status; p.append(s);
          p.append(" · latency ");
          var l = document.createElement("span"); l.id = "test-latency"; l.textContent = d.latency_ms === null ? "—" : d.latency_ms; p.append(l, " ms");
          var pre = document.createElement("pre"); pre.className = "log"; pre.id = "test-answer"; pre.textContent = d.body;
          result.append(p, pre);
        }).catch(function (err) { result.textContent = "Failed: " + err; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("runs");
    if (table && table.dataset.events) liveRuns(table);
    var form = document.getElementById("compare-form");
    if (form) compareForm(form);
    var pre = document.getElementById("log");
    if (pre && pre.dataset.follow) followLog(pre);
    var dep = document.getElementById("dep-state");
    if (dep) pollDeployment(dep);
    var nav = document.querySelector("nav.tabs");
    if (nav) tabs(nav);
    var test = document.getElementById("test-form");
    if (test) testConsole(test);
  });
})();
