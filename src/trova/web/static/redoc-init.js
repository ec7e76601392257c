// ReDoc of /redoc, served from this process (no CDN).
Redoc.init("/openapi.json", {}, document.getElementById("redoc"));
