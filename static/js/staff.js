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
})();
