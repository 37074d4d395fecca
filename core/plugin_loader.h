/*
 * plugin_loader.h — opening one plugin .so and checking its descriptor before
 * any of its code runs.
 *
 * dlopen() caches by path, so a rebuilt plugin at the same path would not be
 * loaded again: every load goes through a private copy with a unique name,
 * which is unlinked as soon as it is mapped (the mapping stays valid).
 */
#ifndef IMGATE_PLUGIN_LOADER_H
#define IMGATE_PLUGIN_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "imgate/plugin.h"

/* Checks magic, size, ABI rule, build signature and name. Returns 0, or -1
 * with the reason in err. Pure: used by the loader and the unit tests. */
int plugin_check_descriptor(const imgate_plugin *d, const char *expected_name, char *err, size_t errlen);

/* Copies dir/NAME.so into copy_dir, dlopens it RTLD_NOW|RTLD_LOCAL, finds and
 * checks its descriptor. On success returns the dlopen handle and sets *desc;
 * on failure returns NULL with the reason in err (the handle is closed). */
void *plugin_open(const char *dir, const char *name, const char *copy_dir, uint64_t generation,
                  const imgate_plugin **desc, char *err, size_t errlen);

/* Creates a private directory for plugin copies: $TMPDIR/imgated-plugins-XXXXXX (TMPDIR or /tmp),
 * with the creator's pid in owner.pid. Returns a malloc'd path, or NULL. */
char *plugin_copy_dir_create(void);
/* Removes such a directory and whatever is left in it. */
void plugin_copy_dir_remove(const char *dir);
/* Removes the copy directories of imgated processes that are gone (killed before they could
 * clean up); directories of live ones, and any without an owner file, are left alone.
 * Returns how many were removed. */
int plugin_copy_dirs_clean(void);

#endif
