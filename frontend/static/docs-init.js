// Starts Swagger UI on /docs. Loaded as a file because the Content-Security-Policy forbids inline scripts.
"use strict";

window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // No call to the public spec validator: the page must make requests to this origin only.
    validatorUrl: null,
  });
});
