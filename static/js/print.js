// Printable pages (an e-receipt, a sheet of meter-box stickers): <button data-print> prints the page; a script
// file, as the content security policy refuses onclick= attributes (portal/web/headers.py).
(function () {
  "use strict";
  document.addEventListener("click", function (evt) {
    if (evt.target.closest && evt.target.closest("[data-print]")) { window.print(); }
  });
})();
