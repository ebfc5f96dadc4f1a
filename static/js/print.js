// Tenant pages: <button data-print> prints the page (an e-receipt); a script file, as the content security policy
// refuses onclick= attributes (portal/web/headers.py).
(function () {
  "use strict";
  document.addEventListener("click", function (evt) {
    if (evt.target.closest && evt.target.closest("[data-print]")) { window.print(); }
  });
})();
