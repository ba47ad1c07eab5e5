/*
 * assets.h - the status page's files (src/serve/assets/), embedded in the
 * binary at build time (.incbin in assets.c): no build step, no files to
 * install.
 */
#ifndef EDDY_SERVE_ASSETS_H
#define EDDY_SERVE_ASSETS_H

#include <stddef.h>

struct eddy_asset {
    const char *path; /* URL path: "/", "/app.js", "/style.css" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
};

/* The asset served at @path into *out (returned), or NULL. */
const struct eddy_asset *eddy__asset_find(const char *path, struct eddy_asset *out);

#endif
