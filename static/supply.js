// Supply-plan page: hover text for the server-drawn chart. The page works
// without script.
(function () {
  var chart = document.getElementById("supply-chart");
  var tip = document.getElementById("chart-tip");
  if (!chart || !tip) { return; }
  chart.addEventListener("mouseover", function (ev) {
    var t = ev.target.closest ? ev.target.closest("[data-tip]") : null;
    if (t) { tip.textContent = t.getAttribute("data-tip"); }
  });
  chart.addEventListener("mouseout", function () { tip.textContent = ""; });
})();
