// Progressive enhancement only: pages work without script.
(function () {
  var select = document.getElementById("account-select");
  if (select) {
    select.addEventListener("change", function () {
      if (select.value) { window.location.href = "/accounts/" + encodeURIComponent(select.value); }
    });
  }
})();
