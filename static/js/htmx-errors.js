// htmx swaps no 4xx/5xx answer by itself (htmx 2's default, kept). An error page answered to htmx is aimed at the
// page's flash area (HX-Retarget: #flash, portal/web/errors.py): that one is swapped, so the person sees it.
document.addEventListener("htmx:beforeSwap", function (evt) {
  var xhr = evt.detail.xhr;
  if (xhr.status >= 400 && xhr.getResponseHeader("HX-Retarget") === "#flash") {
    evt.detail.shouldSwap = true;
  }
});
