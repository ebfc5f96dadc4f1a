// Staff pages: behaviour that used to sit in onclick=/onchange= attributes, which the content security policy
// refuses (portal/web/headers.py). Delegated from the document, so rows swapped in by htmx need nothing more.
(function () {
  "use strict";
  // <button data-print>: print this page (a receipt, the daily report)
  document.addEventListener("click", function (evt) {
    if (evt.target.closest && evt.target.closest("[data-print]")) { window.print(); }
  });
  // <select data-autosubmit>: choosing another site or period reloads the page for it
  document.addEventListener("change", function (evt) {
    if (evt.target.matches && evt.target.matches("select[data-autosubmit]") && evt.target.form) {
      evt.target.form.submit();
    }
  });
  // <select data-shows-kind>: of the form's <fieldset data-kind>, only the chosen option's kind shows (a tariff's
  // price form: flat, time-of-use or tiered). Without this script every fieldset shows, and the server reads
  // only the chosen tariff's kind.
  function showKind(select) {
    var option = select.options[select.selectedIndex];
    var kind = option ? option.getAttribute("data-kind") : null;
    select.form.querySelectorAll("fieldset[data-kind]").forEach(function (set) {
      set.hidden = kind !== null && set.getAttribute("data-kind") !== kind;
    });
  }
  function showKinds(root) {
    root.querySelectorAll("select[data-shows-kind]").forEach(showKind);
  }
  document.addEventListener("change", function (evt) {
    if (evt.target.matches && evt.target.matches("select[data-shows-kind]")) { showKind(evt.target); }
  });
  document.addEventListener("DOMContentLoaded", function () { showKinds(document); });
  document.addEventListener("htmx:afterSwap", function (evt) { showKinds(evt.detail.elt || document); });
  // The meter list (templates/staff/meters/): <input data-select-all> ticks every row box (data-bulk) of its
  // table; [data-selected-count] says how many are ticked. The server states the count again before it acts.
  function countSelected() {
    var n = document.querySelectorAll("input[data-bulk]:checked").length;
    document.querySelectorAll("[data-selected-count]").forEach(function (el) { el.textContent = String(n); });
  }
  document.addEventListener("change", function (evt) {
    var box = evt.target;
    if (!box.matches) { return; }
    if (box.matches("input[data-select-all]")) {
      box.closest("table").querySelectorAll("input[data-bulk]").forEach(function (row) { row.checked = box.checked; });
      countSelected();
    } else if (box.matches("input[data-bulk]")) {
      countSelected();
    }
  });
  document.addEventListener("htmx:afterSettle", countSelected);
  // <button data-clear="#id">: empty that region (a question the user does not want to answer)
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-clear]");
    var region = button && document.querySelector(button.getAttribute("data-clear"));
    if (region) { region.innerHTML = ""; region.className = ""; }
  });
  // A meter row that follows its meter (tr[data-pending] asks for itself) waits while someone has its command form
  // open: the swap would close the form under their fingers. It asks again at its next turn.
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var row = evt.detail.elt;
    if (row.matches && row.matches("tr[data-pending]") && row.querySelector("details[open]")) { evt.preventDefault(); }
  });
  // <form data-drop-empty>: its htmx GET leaves out empty fields and those at their data-default, so the address
  // pushed into the history (a bookmark) says only the filters chosen
  document.addEventListener("htmx:configRequest", function (evt) {
    var form = evt.detail.elt && evt.detail.elt.closest && evt.detail.elt.closest("form[data-drop-empty]");
    if (!form || evt.detail.verb !== "get") { return; }
    var params = evt.detail.parameters;
    Object.keys(params).forEach(function (name) {
      var field = form.elements.namedItem(name);
      var fallback = field && field.getAttribute ? field.getAttribute("data-default") : null;
      if (params[name] === "" || (fallback !== null && params[name] === fallback)) { delete params[name]; }
    });
  });
})();
