#!/usr/bin/env bash
# Copy the pinned front-end libraries from node_modules into the app's static files.
set -euo pipefail
dest=src/crm/web/static/vendor
mkdir -p "$dest"
cp node_modules/htmx.org/dist/htmx.min.js "$dest/htmx.min.js"
cp node_modules/@alpinejs/csp/dist/cdn.min.js "$dest/alpine-csp.min.js"
cp node_modules/bootstrap/dist/css/bootstrap.min.css "$dest/bootstrap.min.css"
cp node_modules/bootstrap/dist/js/bootstrap.bundle.min.js "$dest/bootstrap.bundle.min.js"
cp node_modules/echarts/dist/echarts.min.js "$dest/echarts.min.js"
cp node_modules/sortablejs/Sortable.min.js "$dest/sortable.min.js"
cp node_modules/axe-core/axe.min.js "$dest/axe.min.js"
