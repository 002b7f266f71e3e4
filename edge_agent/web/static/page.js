// Every page: hide a picture that failed to load (retention may have removed it), in place of
// an inline onerror= attribute, which the strict Content-Security-Policy would block.
(function () {
  "use strict";
  document.querySelectorAll("img[data-hide-broken]").forEach(function (img) {
    function hide() { img.style.display = "none"; }
    if (img.complete && img.naturalWidth === 0) hide(); else img.addEventListener("error", hide);
  });
})();
