"""The web console: static files (index.html, console.css, the ES modules, vendor/) served at
/console by shared/adapter/blueprints/console.py, and what the blueprint needs to serve them
(assets.py: finding a file and its headers; config.py: /console/config.json). The console
itself only calls the management API, /manage/v1 (docs/console.md)."""
