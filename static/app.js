// Progressive enhancement only: pages work without script.
// The account switcher: choosing with the mouse opens the account at once;
// with the keyboard, arrow keys only move the choice and Enter (or the Go
// button) opens it, so that walking through the list does not navigate.
(function () {
  var select = document.getElementById("account-select");
  var form = document.getElementById("account-switcher");
  if (!select || !form) { return; }
  var button = form.querySelector("button.switch-go");
  var keyboard = false;
  function go() {
    if (!select.value) { return; }
    var sku = document.getElementById("demand-sku");
    var view = document.getElementById("account-view");
    var target = "/accounts/switch?id=" + encodeURIComponent(select.value);
    if (sku && sku.value) {
      target += "&sku=" + encodeURIComponent(sku.value);
    } else {
      target += "&view=" + encodeURIComponent(view ? view.value : "");
    }
    window.location.href = target;
  }
  select.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { ev.preventDefault(); go(); return; }
    if (ev.key !== "Tab") { keyboard = true; }
  });
  select.addEventListener("pointerdown", function () { keyboard = false; });
  select.addEventListener("change", function () {
    if (keyboard) {
      if (button) { button.hidden = false; }
      return;
    }
    go();
  });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); go(); });
  if (button) { button.hidden = true; }
})();
// Upload forms: show upload progress, then the server's answer page.
(function () {
  document.querySelectorAll("form.upload").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.XMLHttpRequest || !window.FormData) { return; }
      ev.preventDefault();
      var bar = form.querySelector("progress");
      var button = form.querySelector("button");
      bar.hidden = false;
      button.disabled = true;
      button.textContent = "Uploading…";
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); }
      };
      xhr.upload.onload = function () { button.textContent = "Checking and saving…"; bar.removeAttribute("value"); };
      xhr.onload = function () {
        document.open(); document.write(xhr.responseText); document.close();
      };
      xhr.onerror = function () { button.disabled = false; button.textContent = "Upload failed: retry"; };
      xhr.send(new FormData(form));
    });
  });
})();
