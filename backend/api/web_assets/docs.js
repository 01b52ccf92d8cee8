// Starts Swagger UI on /docs. A file, not an inline script, so the page's CSP needs no
// 'unsafe-inline'; every asset comes from this server, so the docs work offline.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // The online validator badge would load an image from another host.
    validatorUrl: null,
  });
});
