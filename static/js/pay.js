// Tenant pay pages (no CDN, no framework): the custom amount chip, the one-time jump to the pay page,
// and WeChat's pay sheet. The progress partial (htmx polling) does the rest.
(function () {
  "use strict";
  // Typing another amount selects the "other amount" chip.
  document.addEventListener("input", function (evt) {
    if (evt.target.name === "custom" && evt.target.value && evt.target.form) {
      var radio = evt.target.form.querySelector('input[name=amount][value=custom]');
      if (radio) { radio.checked = true; }
    }
  });

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  ready(function () {
    // A pay URL (Alipay's cashier, the sandbox) is followed once; back from it, the page just shows progress.
    var link = document.getElementById("pay-link");
    if (link && link.dataset.auto) {
      var key = "payfirst:pay:" + link.dataset.order;
      try {
        if (!sessionStorage.getItem(key)) { sessionStorage.setItem(key, "1"); window.location.assign(link.href); }
      } catch (e) { /* private mode: the button is there */ }
    }

    // Inside WeChat: open the pay sheet with the signed JSAPI parameters; on success poll at once.
    var wx = document.getElementById("wx-pay");
    if (!wx) { return; }
    var params = JSON.parse(wx.dataset.jsapi);
    function invoke() {
      window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, function (res) {
        if (res && res.err_msg === "get_brand_wcpay_request:ok" && window.htmx) {
          window.htmx.trigger("#order-progress", "paid");
        }
      });
    }
    wx.addEventListener("click", function () { if (window.WeixinJSBridge) { invoke(); } });
    if (window.WeixinJSBridge) { invoke(); } else { document.addEventListener("WeixinJSBridgeReady", invoke, false); }
  });
})();
