// The order-plan page: while the plan is being recomputed, poll its status
// and show the progress; reload once it is fresh. Progressive enhancement.
(function () {
  var banner = document.getElementById("stale-banner");
  if (!banner || !window.fetch) { return; }
  var id = banner.getAttribute("data-account-id");
  var out = document.getElementById("recompute-progress");
  function poll() {
    fetch("/api/v1/accounts/" + encodeURIComponent(id) + "/plan-status", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (!s.stale) { window.location.reload(); return; }
        if (s.job && s.job.progress && s.job.progress.total > 0) {
          out.textContent = "Recomputing: " + s.job.progress.done + " of " + s.job.progress.total + " accounts done.";
        } else if (s.job) {
          out.textContent = "Recompute " + s.job.status + "…";
        }
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
