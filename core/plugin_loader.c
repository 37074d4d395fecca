/* plugin_loader.c — see plugin_loader.h. */
#include "plugin_loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* $TMPDIR/imgated-plugins-XXXXXX, holding the owner's pid in a file. */
#define COPY_DIR_PREFIX "imgated-plugins-"
#define COPY_DIR_OWNER "owner.pid"

/* The smallest descriptor any 1.x plugin can carry (ABI 1.0: everything before `config`). */
#define DESCRIPTOR_V1_0_SIZE offsetof(imgate_plugin, config)

int plugin_check_descriptor(const imgate_plugin *d, const char *expected_name, char *err, size_t errlen)
{
    if (d->magic != IMGATE_PLUGIN_MAGIC) {
        snprintf(err, errlen, "bad magic 0x%08x (not an imgate plugin descriptor)", d->magic);
        return -1;
    }
    if (d->abi_major != IMGATE_ABI_MAJOR) {
        snprintf(err, errlen, "ABI major %u, core has %u", d->abi_major, IMGATE_ABI_MAJOR);
        return -1;
    }
    if (d->abi_minor > IMGATE_ABI_MINOR) {
        snprintf(err, errlen, "ABI %u.%u is newer than the core's %u.%u", d->abi_major, d->abi_minor,
                 IMGATE_ABI_MAJOR, IMGATE_ABI_MINOR);
        return -1;
    }
    if (d->struct_size < DESCRIPTOR_V1_0_SIZE) {
        snprintf(err, errlen, "descriptor size %u smaller than ABI %u.0 requires (%zu)", d->struct_size,
                 IMGATE_ABI_MAJOR, DESCRIPTOR_V1_0_SIZE);
        return -1;
    }
    if (d->build_signature == NULL || strcmp(d->build_signature, IMGATE_BUILD_SIGNATURE) != 0) {
        snprintf(err, errlen, "build signature '%s' does not match the core's '%s'",
                 d->build_signature ? d->build_signature : "(none)", IMGATE_BUILD_SIGNATURE);
        return -1;
    }
    if (d->name == NULL || strcmp(d->name, expected_name) != 0) {
        snprintf(err, errlen, "descriptor names plugin '%s', enabled as '%s'", d->name ? d->name : "(none)",
                 expected_name);
        return -1;
    }
    if (d->init == NULL) {
        snprintf(err, errlen, "descriptor has no init function");
        return -1;
    }
    return 0;
}

static int copy_file(const char *from, const char *to, char *err, size_t errlen)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        snprintf(err, errlen, "cannot open %s: %s", from, strerror(errno));
        return -1;
    }
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    if (out < 0) {
        snprintf(err, errlen, "cannot create %s: %s", to, strerror(errno));
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0) {
                snprintf(err, errlen, "cannot write %s: %s", to, strerror(errno));
                rc = -1;
                goto done;
            }
            off += w;
        }
    }
    if (n < 0) {
        snprintf(err, errlen, "cannot read %s: %s", from, strerror(errno));
        rc = -1;
    }
done:
    close(in);
    if (close(out) != 0 && rc == 0) {
        snprintf(err, errlen, "cannot write %s: %s", to, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        unlink(to);
    return rc;
}

void *plugin_open(const char *dir, const char *name, const char *copy_dir, uint64_t generation,
                  const imgate_plugin **desc, char *err, size_t errlen)
{
    char src[4096], copy[4096];
    snprintf(src, sizeof src, "%s/%s.so", dir, name);
    snprintf(copy, sizeof copy, "%s/%s.gen%llu.so", copy_dir, name, (unsigned long long)generation);
    unlink(copy); /* a leftover from a failed attempt with the same generation number */
    if (copy_file(src, copy, err, errlen) != 0)
        return NULL;
    void *dl = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    unlink(copy);
    if (dl == NULL) {
        snprintf(err, errlen, "dlopen %s: %s", src, dlerror());
        return NULL;
    }
    const imgate_plugin *d = dlsym(dl, IMGATE_PLUGIN_SYMBOL);
    if (d == NULL) {
        snprintf(err, errlen, "%s exports no '%s' symbol", src, IMGATE_PLUGIN_SYMBOL);
        dlclose(dl);
        return NULL;
    }
    char why[512];
    if (plugin_check_descriptor(d, name, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s refused: %s", src, why);
        dlclose(dl);
        return NULL;
    }
    *desc = d;
    return dl;
}

static const char *tmp_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    return tmp && *tmp ? tmp : "/tmp";
}

char *plugin_copy_dir_create(void)
{
    char path[4096], owner[4200];
    snprintf(path, sizeof path, "%s/" COPY_DIR_PREFIX "XXXXXX", tmp_dir());
    if (mkdtemp(path) == NULL)
        return NULL;
    /* Who owns it: a later start cleans up after a process that was killed (-9) before it could. */
    snprintf(owner, sizeof owner, "%s/" COPY_DIR_OWNER, path);
    FILE *f = fopen(owner, "w");
    if (f != NULL) {
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
    }
    return strdup(path);
}

void plugin_copy_dir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[4400];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path); /* only plugin copies and the owner file ever live here */
        }
        closedir(d);
    }
    rmdir(dir);
}

/* 1 when `pid` is a running imgated. */
static int imgated_alive(long pid)
{
    if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        return 0;
    char path[64], comm[64] = "";
    snprintf(path, sizeof path, "/proc/%ld/comm", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 1; /* cannot tell: assume it is, and leave its directory alone */
    int ok = fgets(comm, sizeof comm, f) != NULL;
    fclose(f);
    return !ok || strncmp(comm, "imgated", 7) == 0 || strncmp(comm, "lt-imgated", 10) == 0;
}

int plugin_copy_dirs_clean(void)
{
    DIR *d = opendir(tmp_dir());
    if (d == NULL)
        return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, COPY_DIR_PREFIX, strlen(COPY_DIR_PREFIX)) != 0)
            continue;
        char dir[4200], owner[4400];
        snprintf(dir, sizeof dir, "%s/%s", tmp_dir(), e->d_name);
        snprintf(owner, sizeof owner, "%s/" COPY_DIR_OWNER, dir);
        FILE *f = fopen(owner, "r");
        if (f == NULL)
            continue; /* not one this version made: not ours to judge */
        long pid = 0;
        int read = fscanf(f, "%ld", &pid) == 1;
        fclose(f);
        if (!read || imgated_alive(pid))
            continue;
        plugin_copy_dir_remove(dir);
        removed++;
    }
    closedir(d);
    return removed;
}
