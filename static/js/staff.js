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
})();
