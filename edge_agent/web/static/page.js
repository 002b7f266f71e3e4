// Every page: hide a picture that failed to load (retention may have removed it), in place of
// an inline onerror= attribute, which the strict Content-Security-Policy would block.
(function () {
  "use strict";
  document.querySelectorAll("img[data-hide-broken]").forEach(function (img) {
    function hide() { img.style.display = "none"; }
    if (img.complete && img.naturalWidth === 0) hide(); else img.addEventListener("error", hide);
  });
  // A photo the page named but that failed to load (retention deleted it between the page and the picture: a
  // race no check on the server can close) is replaced by the line saying so, not left a broken picture. Only when
  // the server says it is not there (404): a picture refused for the rate (429, reviewers behind one address), a
  // session that ended or a dropped connection was said "not on the device" to a reviewer deciding on it (probe
  // review107); those stay a broken picture, the status kept on the image (data-load-failed).
  document.querySelectorAll("img[data-gone-text]").forEach(function (img) {
    function gone() {
      var line = document.createElement("p");
      line.className = "empty";
      line.id = "photo-gone";
      line.textContent = img.dataset.goneText;
      (img.closest("a") || img).replaceWith(line);
    }
    function failed() {
      fetch(img.src, {credentials: "same-origin", redirect: "manual"}).then(function (r) {
        if (r.status === 404) gone(); else img.dataset.loadFailed = String(r.status);
      }, function () { img.dataset.loadFailed = "network"; });
    }
    if (img.complete && img.naturalWidth === 0) failed(); else img.addEventListener("error", failed);
  });

  // A page that asks for it (<body data-refresh-s="15">: the live bays) reloads that often while nobody is using
  // it. A <meta http-equiv="refresh"> reloaded under a keyboard user every 15 s, focus back at the top of the page:
  // on a pole of 150 bays the later snapshot buttons could not be reached. Input pauses it; a focused control
  // keeps it paused for four periods (a screen left with focus on a button still refreshes after that).
  var period = Number(document.body.dataset.refreshS) * 1000;
  if (period > 0) {
    var last = Date.now();
    ["keydown", "pointerdown", "wheel", "touchstart"].forEach(function (kind) {
      window.addEventListener(kind, function () { last = Date.now(); }, {capture: true, passive: true});
    });
    // One reload, then the timer stops: the old page runs on until the new one arrives, and a second
    // location.reload() a second later aborted the first (a /bays slower than a second never came back).
    var timer = setInterval(function () {
      var idle = Date.now() - last;
      var focused = document.activeElement && document.activeElement !== document.body;
      if (document.visibilityState === "visible" && idle >= period && (!focused || idle >= 4 * period)) {
        clearInterval(timer);
        location.reload();
      }
    }, 1000);
  }
})();
