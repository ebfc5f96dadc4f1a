// The sticker sheet's print button (an inline onclick would be refused by the CSP).
document.addEventListener("click", function (evt) {
  if (evt.target.closest("[data-print]")) {
    window.print();
  }
});
