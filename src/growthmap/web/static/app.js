/* Render every chart on the page with vega-embed (bundled locally, no CDN). */
(function () {
  "use strict";
  function render() {
    if (typeof window.vegaEmbed !== "function") { return; }
    document.querySelectorAll("div.vega[data-spec]").forEach(function (el) {
      var script = document.getElementById(el.getAttribute("data-spec"));
      if (!script) { return; }
      var spec = JSON.parse(script.textContent);
      window.vegaEmbed(el, spec, {
        renderer: "svg",
        actions: { export: true, source: false, compiled: false, editor: false }
      }).then(function () { el.setAttribute("data-rendered", "1"); })
        .catch(function (err) { el.textContent = "chart failed: " + err; });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", render);
  } else { render(); }
})();
