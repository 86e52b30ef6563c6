// The review queue's "Select all" box (review.html): ticks or clears every ticket's box. A file
// of its own, not an inline script, so the Content-Security-Policy allows scripts from our own
// origin only (api/web_headers.py). Without it the page still works, one box at a time.
document.addEventListener("DOMContentLoaded", function () {
  var all = document.getElementById("select-all");
  if (!all) {
    return;
  }
  all.addEventListener("change", function (event) {
    document.querySelectorAll("input[name=ticket]").forEach(function (box) {
      box.checked = event.target.checked;
    });
  });
});
