// Keyboard shortcuts for the review pages (loaded as a file: the CSP forbids inline script).
// Queue: j/k move the selection, Enter/o open, a/r accept/reject the selected row.
// Proposal: j/k next/previous pending proposal, a accept, r reject, e edit. Everywhere: u undo.
(function () {
  "use strict";
  var selected = -1;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.queue-row")); }

  function select(i) {
    var all = rows();
    if (!all.length) { return; }
    selected = Math.max(0, Math.min(all.length - 1, i));
    all.forEach(function (r, n) { r.classList.toggle("selected", n === selected); });
    all[selected].scrollIntoView({ block: "nearest" });
  }

  function submit(form) {
    if (!form) { return false; }
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    return true;
  }

  function follow(id) {
    var link = document.getElementById(id);
    if (!link) { return false; }
    window.location.href = link.getAttribute("href");
    return true;
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) { return; }  // typing, not a shortcut
    var onQueue = rows().length > 0 && !document.getElementById("proposal");
    var row = onQueue && selected >= 0 ? rows()[selected] : null;
    var done = false;
    switch (e.key) {
      case "j":
        if (onQueue) { select(selected + 1); done = true; } else { done = follow("next-proposal"); }
        break;
      case "k":
        if (onQueue) { select(selected - 1); done = true; } else { done = follow("prev-proposal"); }
        break;
      case "Enter":
      case "o":
        if (row) { window.location.href = row.getAttribute("data-href"); done = true; }
        break;
      case "a":
        done = submit(row ? row.querySelector("form.row-accept") : document.getElementById("accept-form"));
        break;
      case "r":
        done = submit(row ? row.querySelector("form.row-reject") : document.getElementById("reject-form"));
        break;
      case "e":
        var details = document.getElementById("edit-details");
        if (details) { details.open = true; document.getElementById("edit-value").focus(); done = true; }
        break;
      case "u":
        done = submit(document.getElementById("undo-form"));
        break;
    }
    if (done) { e.preventDefault(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (rows().length && !document.getElementById("proposal")) { select(0); }
  });
})();
