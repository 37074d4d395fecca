/*
 * imgated — the imgate daemon. Usage:
 *   imgated -c FILE      run with the configuration FILE
 *   imgated -t -c FILE   check FILE and exit (non-zero with "FILE:LINE: reason")
 *   imgated -v           print the version and the plugin ABI
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "generation.h"
#include "imgate/plugin.h"
#include "plugin_loader.h"
#include "server_run.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: imgated -c FILE | imgated -t -c FILE | imgated -v\n");
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int check_only = 0;
    int opt;
    while ((opt = getopt(argc, argv, "c:tvh")) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 't': check_only = 1; break;
        case 'v':
            printf("imgated %s (plugin ABI %d.%d, %s)\n", IMGATE_VERSION, IMGATE_ABI_MAJOR, IMGATE_ABI_MINOR,
                   IMGATE_BUILD_SIGNATURE);
            return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (path == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (check_only) {
        char err[1024];
        config *cfg = config_load(path, err, sizeof err);
        if (cfg == NULL) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        /* The plugins' declared keys are part of the file's validity: open each plugin (none of
         * its code runs) and check its section. */
        char *copy_dir = cfg->n_enable > 0 ? plugin_copy_dir_create() : NULL;
        int rc = 0;
        if (cfg->n_enable > 0 && copy_dir == NULL) {
            fprintf(stderr, "%s:0: cannot create a directory for plugin copies\n", path);
            rc = 1;
        } else if (cfg->n_enable > 0 && generation_check(cfg, copy_dir, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            rc = 1;
        }
        if (copy_dir) {
            plugin_copy_dir_remove(copy_dir);
            free(copy_dir);
        }
        config_free(cfg);
        if (rc == 0)
            printf("%s: ok\n", path);
        return rc;
    }
    return server_run(path);
}
