// Starts Swagger UI on /docs. A file of its own, not an inline script, so the page's CSP
// can forbid inline scripts.
window.addEventListener('load', () => {
  window.ui = SwaggerUIBundle({
    url: '/api/v1/openapi.json',
    dom_id: '#swagger-ui',
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    deepLinking: true,
    showCommonExtensions: true,
  });
});
