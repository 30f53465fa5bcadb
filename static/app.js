// Progressive enhancement only: pages work without script.
(function () {
  var select = document.getElementById("account-select");
  if (select) {
    select.addEventListener("change", function () {
      if (!select.value) { return; }
      var view = document.getElementById("account-view");
      window.location.href = "/accounts/switch?id=" + encodeURIComponent(select.value) +
        "&view=" + encodeURIComponent(view ? view.value : "");
    });
  }
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
