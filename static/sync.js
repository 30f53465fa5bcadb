// The accounts page: "Load data from all connections" and the per-child
// sync buttons start a sync through the API (the session cookie, and the
// page's CSRF token as X-CSRF-Token), then a progress bar and each child's
// status follow GET /api/v1/jobs/{id}. Without script the buttons are
// plain forms. The add-connection form shows the settings of the chosen kind.
(function () {
  "use strict";
  var panel = document.getElementById("sync-panel");
  if (!panel) { return; }
  var csrf = panel.getAttribute("data-csrf") || "";
  var bar = document.getElementById("sync-progress");
  var message = document.getElementById("sync-message");
  var buttons = document.querySelectorAll(".sync-form button");

  function setBusy(busy) {
    buttons.forEach(function (b) { b.disabled = busy; });
  }

  function row(accountId) {
    return document.querySelector('#accounts tr[data-account-id="' + accountId + '"]');
  }

  function showChild(a) {
    var tr = row(a.account_id);
    if (!tr) { return; }
    var cell = tr.querySelector(".sync-status");
    if (cell) {
      var text = a.status;
      if (a.status === "succeeded") {
        text = "succeeded: " + a.records + " records written (" + ((a.counts && a.counts.unchanged) || 0) + " unchanged)";
      } else if (a.status === "skipped") {
        text = "skipped: " + (a.error || "nothing to load");
      } else if (a.status === "failed") {
        text = "failed: " + (a.error || "");
      } else if (a.status === "partial") {
        text = "partial: " + a.records + " records written; " + (a.error || "");
      } else if (a.status === "running" && a.counts) {
        text = "running: " + a.records + " records written so far";
      }
      cell.textContent = text;
      cell.setAttribute("data-status", a.status);
    }
    if (a.status === "succeeded" && a.last_synced_at) {
      var last = tr.querySelector(".last-synced");
      if (last) { last.textContent = a.last_synced_at.replace("T", " ").slice(0, 16) + " UTC"; }
    }
  }

  function follow(jobId) {
    bar.hidden = false;
    setBusy(true);
    var poll = function () {
      fetch("/api/v1/jobs/" + encodeURIComponent(jobId), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          var p = job.progress || {};
          if (p.total > 0) { bar.max = p.total; bar.value = p.done; } else { bar.removeAttribute("value"); }
          (job.accounts || []).forEach(showChild);
          if (job.status === "queued" || job.status === "running") {
            message.textContent = job.status === "queued" ? "Waiting to start…" : "Loading… " + (p.done || 0) + " of " + (p.total || 0);
            window.setTimeout(poll, 700);
            return;
          }
          message.textContent = job.status === "succeeded" ? "Loaded." :
            job.status === "partial" ? "Partly loaded: " + (job.error || "") :
            "The sync failed: " + (job.error || "");
          setBusy(false);
        })
        .catch(function () {
          message.textContent = "Lost contact with the server; retrying…";
          window.setTimeout(poll, 2000);
        });
    };
    poll();
  }

  document.querySelectorAll(".sync-form").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.fetch) { return; }
      ev.preventDefault();
      var id = form.getAttribute("data-account-id");
      setBusy(true);
      message.textContent = "Starting…";
      fetch("/api/v1/accounts/" + encodeURIComponent(id) + "/sync", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, "Accept": "application/json" }
      })
        .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
        .then(function (res) {
          if (!res.ok) {
            message.textContent = (res.body && res.body.error && res.body.error.message) || "The sync could not start.";
            setBusy(false);
            return;
          }
          follow(res.body.job_id);
        })
        .catch(function () { message.textContent = "The sync could not start."; setBusy(false); });
    });
  });

  var open = panel.getAttribute("data-job-id");
  if (open) { follow(open); }

  // The add-connection form: only the chosen kind's settings are shown and sent.
  var kind = document.getElementById("connection-kind");
  if (kind) {
    var update = function () {
      document.querySelectorAll(".connection-settings").forEach(function (fs) {
        var on = fs.getAttribute("data-kind") === kind.value;
        fs.hidden = !on;
        fs.disabled = !on;
      });
    };
    kind.addEventListener("change", update);
    update();
  }
})();
