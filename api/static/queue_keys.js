// Keyboard shortcuts on the queue pages (review.html, exceptions.html, tickets.html; the keys
// are listed in _queue_keys.html and in README.md's Pages). A file of its own, not an inline
// script, so the Content-Security-Policy allows scripts from our own origin only
// (api/web_headers.py).
//
// The rows are the elements with data-ticket inside [data-queue-keys]. What a key does to a row
// is found by data-key in the row: a form with no field to fill is submitted; otherwise the
// <details> around it opens and its first field takes the focus. Without this script every
// form still works by mouse, Tab and Enter.
(function () {
  "use strict";

  var FIELDS = "input:not([type=hidden]), select, textarea";
  // Typing in these is typing, not a shortcut.
  var TYPING =
    "textarea, select, [contenteditable], " +
    "input:not([type=checkbox]):not([type=radio]):not([type=submit]):not([type=button])";
  // Where the picked row is carried over a form post and its redirect, per page.
  var REMEMBERED = "queue-keys:" + window.location.pathname;

  var rows = [];
  var current = -1;

  // The row the keys act on: marked (a ring, aria-current), focused and scrolled into view.
  function pick(index) {
    if (!rows.length) {
      return;
    }
    mark(Math.max(0, Math.min(index, rows.length - 1)));
    var row = rows[current];
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function mark(index) {
    if (current >= 0 && rows[current]) {
      rows[current].classList.remove("current");
      rows[current].removeAttribute("aria-current");
    }
    current = index;
    rows[current].classList.add("current");
    rows[current].setAttribute("aria-current", "true");
  }

  function act(key) {
    var row = rows[current];
    var target = row && row.querySelector('[data-key="' + key + '"]');
    if (!target) {
      return;
    }
    if (target.tagName === "FORM" && !target.querySelector(FIELDS)) {
      remember(current);
      target.requestSubmit();
      return;
    }
    var details = target.tagName === "DETAILS" ? target : target.closest("details");
    if (details) {
      details.open = true;
    }
    var field = target.querySelector(FIELDS);
    if (field) {
      field.focus();
      field.scrollIntoView({ block: "nearest" });
    }
  }

  function toggleDetails() {
    var row = rows[current];
    var details = row && (row.querySelector('details[data-key="o"]') || row.querySelector("details"));
    if (details) {
      details.open = !details.open;
    }
  }

  function toggleBox() {
    var box = rows[current] && rows[current].querySelector("input[type=checkbox]");
    if (box) {
      box.click();
    }
  }

  function openTicket() {
    var link = rows[current] && rows[current].querySelector("a[data-open]");
    if (link) {
      window.location.assign(link.href);
    }
  }

  function remember(index) {
    try {
      window.sessionStorage.setItem(REMEMBERED, String(index));
    } catch (ignored) {
      // Storage refused (private mode): the page still works, the focus starts at the top.
    }
  }

  function recalled() {
    try {
      var value = window.sessionStorage.getItem(REMEMBERED);
      window.sessionStorage.removeItem(REMEMBERED);
      return value === null ? -1 : parseInt(value, 10);
    } catch (ignored) {
      return -1;
    }
  }

  function showHelp(help, button, shown) {
    help.hidden = !shown;
    button.setAttribute("aria-expanded", shown ? "true" : "false");
    if (shown) {
      help.scrollIntoView({ block: "nearest" });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var queue = document.querySelector("[data-queue-keys]");
    if (!queue) {
      return;
    }
    rows = Array.prototype.slice.call(queue.querySelectorAll("[data-ticket]"));
    var help = document.getElementById("keys-help");
    var button = document.getElementById("keys-toggle");
    if (button && help) {
      button.hidden = false;
      button.addEventListener("click", function () {
        showHelp(help, button, help.hidden);
      });
    }

    // A form posted from a row (by key or by mouse) brings the page back with the row now at
    // that place picked: the next ticket after an approval or a hold.
    rows.forEach(function (row, index) {
      row.addEventListener("submit", function () {
        remember(index);
      });
      // Tabbing or clicking into a row makes it the one the keys act on.
      row.addEventListener("focusin", function () {
        if (current !== index) {
          mark(index);
        }
      });
      row.addEventListener("click", function (event) {
        if (!event.target.closest("a, button, input, select, textarea, summary, label")) {
          pick(index);
        }
      });
    });
    var back = recalled();
    if (back >= 0 && rows.length) {
      pick(back);
    }

    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) {
        return;
      }
      if (event.target.closest && event.target.closest(TYPING)) {
        if (event.key === "Escape") {
          event.target.blur();
          if (current >= 0) {
            pick(current);
          }
        }
        return;
      }
      var handled = true;
      switch (event.key) {
        case "j":
          pick(current + 1);
          break;
        case "k":
          pick(current < 0 ? 0 : current - 1);
          break;
        case "x":
          // With no row picked yet, the first key picks the first row and does nothing more:
          // no ticket is approved that the person has not seen picked.
          if (current < 0) pick(0);
          else toggleBox();
          break;
        case "a":
        case "h":
        case "e":
          if (current < 0) pick(0);
          else act(event.key);
          break;
        case "o":
          if (current < 0) pick(0);
          else toggleDetails();
          break;
        case "Enter":
          // Only on the row itself: Enter on a button or a link inside it does its usual thing.
          if (current >= 0 && event.target === rows[current]) {
            openTicket();
          } else {
            handled = false;
          }
          break;
        case "?":
          if (help && button) showHelp(help, button, help.hidden);
          break;
        case "Escape":
          if (help && !help.hidden) {
            showHelp(help, button, false);
          } else {
            handled = false;
          }
          break;
        default:
          handled = false;
      }
      if (handled) {
        event.preventDefault();
      }
    });
  });
})();
