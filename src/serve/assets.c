/*
 * assets.c - see assets.h. EDDY_ASSETS_DIR comes from CMakeLists.txt, which
 * also makes this file depend on the assets.
 */
#include "serve/assets.h"

#include <string.h>

#define EMBED(sym, file)                                                                   \
    __asm__(".section .rodata\n"                                                           \
            ".balign 16\n" #sym ":\n"                                                      \
            ".incbin \"" EDDY_ASSETS_DIR "/" file "\"\n" #sym "_end:\n"                     \
            ".byte 0\n"                                                                    \
            ".previous\n");                                                                \
    extern const unsigned char sym[], sym##_end[]

EMBED(eddy_asset_index, "index.html");
EMBED(eddy_asset_app, "app.js");
EMBED(eddy_asset_style, "style.css");

const struct eddy_asset *eddy__asset_find(const char *path, struct eddy_asset *out)
{
    const struct eddy_asset assets[] = {
        {"/", "text/html; charset=utf-8", eddy_asset_index,
         (size_t)(eddy_asset_index_end - eddy_asset_index)},
        {"/app.js", "text/javascript; charset=utf-8", eddy_asset_app,
         (size_t)(eddy_asset_app_end - eddy_asset_app)},
        {"/style.css", "text/css; charset=utf-8", eddy_asset_style,
         (size_t)(eddy_asset_style_end - eddy_asset_style)},
    };
    if (strcmp(path, "/index.html") == 0)
        path = "/";
    for (size_t i = 0; i < sizeof assets / sizeof *assets; i++)
        if (strcmp(assets[i].path, path) == 0) {
            *out = assets[i];
            return out;
        }
    return NULL;
}
