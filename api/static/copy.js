// "Copy link" beside a signoff link on the exception queue (exceptions.html): copies the text of
// the element its data-copy names. A file of its own, not an inline script, for the
// Content-Security-Policy (api/web_headers.py). Without it the link can still be selected.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.querySelector(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) {
        return;
      }
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "Copied";
      });
    });
  });
});
