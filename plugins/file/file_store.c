/*
 * file_store.c — see file_store.h.
 */
#include "file_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "file.h"

/* Field offsets and widths of the header (protocol H.9). */
#define H_TASK 0
#define H_TASK_LEN 128
#define H_FROM 128
#define H_FROM_LEN 64
#define H_TO 192
#define H_TO_LEN 64
#define H_CREATED 256
#define H_CREATED_LEN 128
#define H_NAME 384 /* 512 bytes, written empty */
#define H_SIZE 896
#define H_SIZE_LEN 64

void file_store_path(const char *dir, const char *task_id, int partial, char *out, size_t len)
{
    snprintf(out, len, "%s/%.2s/%s%s", dir, task_id, task_id, partial ? ".part" : "");
}

static void shard_path(const char *dir, const char *task_id, char *out, size_t len)
{
    snprintf(out, len, "%s/%.2s", dir, task_id);
}

/* mkdir -p for the storage directory and its shard. */
static int make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return errno;
        *p = '/';
    }
    if (mkdir(buf, 0750) != 0 && errno != EEXIST)
        return errno;
    return 0;
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

static void put_field(uint8_t *out, size_t width, const char *value)
{
    size_t n = strlen(value);
    memcpy(out, value, n < width ? n : width - 1);
}

void file_header_encode(const file_header *h, uint8_t out[FILE_HEADER_LEN])
{
    char num[32];
    memset(out, 0, FILE_HEADER_LEN);
    put_field(out + H_TASK, H_TASK_LEN, h->task_id);
    snprintf(num, sizeof num, "%" PRIu32, h->from_id);
    put_field(out + H_FROM, H_FROM_LEN, num);
    snprintf(num, sizeof num, "%" PRIu32, h->to_id);
    put_field(out + H_TO, H_TO_LEN, num);
    snprintf(num, sizeof num, "%lld", h->created);
    put_field(out + H_CREATED, H_CREATED_LEN, num);
    snprintf(num, sizeof num, "%" PRIu32, h->size);
    put_field(out + H_SIZE, H_SIZE_LEN, num);
}

/* A NUL-padded decimal field: digits, then only NULs. */
static int parse_number(const uint8_t *p, size_t width, unsigned long long max, unsigned long long *out)
{
    size_t i = 0;
    unsigned long long v = 0;
    while (i < width && p[i] >= '0' && p[i] <= '9') {
        v = v * 10 + (unsigned)(p[i] - '0');
        if (v > max)
            return EINVAL;
        i++;
    }
    if (i == 0)
        return EINVAL;
    for (; i < width; i++)
        if (p[i] != '\0')
            return EINVAL;
    *out = v;
    return 0;
}

int file_header_parse(const uint8_t in[FILE_HEADER_LEN], file_header *h)
{
    memset(h, 0, sizeof *h);
    size_t n = strnlen((const char *)in + H_TASK, H_TASK_LEN);
    if (n != FILE_TASK_ID_LEN)
        return EINVAL;
    memcpy(h->task_id, in + H_TASK, n);
    h->task_id[n] = '\0';
    unsigned long long from, to, created, size;
    if (parse_number(in + H_FROM, H_FROM_LEN, UINT32_MAX, &from) ||
        parse_number(in + H_TO, H_TO_LEN, UINT32_MAX, &to) ||
        parse_number(in + H_CREATED, H_CREATED_LEN, INT64_MAX / 2, &created) ||
        parse_number(in + H_SIZE, H_SIZE_LEN, UINT32_MAX, &size))
        return EINVAL;
    h->from_id = (uint32_t)from;
    h->to_id = (uint32_t)to;
    h->created = (long long)created;
    h->size = (uint32_t)size;
    return 0;
}

static int write_all(int fd, const void *data, size_t len, off_t at)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, at);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return EIO;
        p += n;
        len -= (size_t)n;
        at += n;
    }
    return 0;
}

int file_store_create(const char *dir, const char *task_id, uint32_t from_id, uint32_t to_id, uint32_t size,
                      int *fd_out)
{
    char shard[4096], part[4096], final[4096];
    shard_path(dir, task_id, shard, sizeof shard);
    file_store_path(dir, task_id, 1, part, sizeof part);
    file_store_path(dir, task_id, 0, final, sizeof final);
    int rc = make_dirs(shard);
    if (rc)
        return rc;
    if (access(final, F_OK) == 0)
        return EEXIST;
    /* O_NOFOLLOW and O_EXCL: the name is ours alone. A leftover .part of this task is a crashed
     * attempt (the role claim in Redis admits one uploader at a time): start again. */
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(part, flags, 0640);
    if (fd < 0 && errno == EEXIST) {
        unlink(part);
        fd = open(part, flags, 0640);
    }
    if (fd < 0)
        return errno;
    file_header h = {.from_id = from_id, .to_id = to_id, .size = size, .created = (long long)time(NULL)};
    snprintf(h.task_id, sizeof h.task_id, "%s", task_id);
    uint8_t raw[FILE_HEADER_LEN];
    file_header_encode(&h, raw);
    rc = write_all(fd, raw, sizeof raw, 0);
    if (rc) {
        close(fd);
        unlink(part);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

int file_store_write(int fd, uint32_t offset, const void *data, size_t len)
{
    return write_all(fd, data, len, (off_t)FILE_HEADER_LEN + offset);
}

/* rename(2) that never replaces: a stored file is never overwritten by another upload. */
static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return errno;
    /* A filesystem without RENAME_NOREPLACE: link(2) refuses an existing target too. */
    if (link(from, to) != 0)
        return errno;
    unlink(from);
    return 0;
}

int file_store_commit(int fd, const char *dir, const char *task_id)
{
    char shard[4096], part[4096], final[4096];
    shard_path(dir, task_id, shard, sizeof shard);
    file_store_path(dir, task_id, 1, part, sizeof part);
    file_store_path(dir, task_id, 0, final, sizeof final);
    int rc = fsync(fd) == 0 ? 0 : errno;
    if (close(fd) != 0 && rc == 0 && errno != EINTR)
        rc = errno;
    if (rc == 0)
        rc = rename_noreplace(part, final);
    if (rc == 0)
        rc = fsync_dir(shard);
    if (rc != 0)
        unlink(part);
    return rc;
}

void file_store_discard(int fd, const char *dir, const char *task_id)
{
    if (fd < 0)
        return; /* committed, or failed and already removed */
    char part[4096];
    file_store_path(dir, task_id, 1, part, sizeof part);
    /* Only the file this fd wrote: a new upload of the same task may have replaced the name. */
    struct stat mine, named;
    if (fstat(fd, &mine) == 0 && lstat(part, &named) == 0 && mine.st_dev == named.st_dev && mine.st_ino == named.st_ino)
        unlink(part);
    close(fd);
}

int file_store_open(const char *dir, const char *task_id, file_header *h, int *fd_out)
{
    char path[4096];
    file_store_path(dir, task_id, 0, path, sizeof path);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ELOOP ? EINVAL : errno;
    struct stat st;
    uint8_t raw[FILE_HEADER_LEN];
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = errno;
    else if (!S_ISREG(st.st_mode) || st.st_size < FILE_HEADER_LEN)
        rc = EINVAL;
    else if (pread(fd, raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        rc = EIO;
    else if (file_header_parse(raw, h) != 0 || strcmp(h->task_id, task_id) != 0)
        rc = EINVAL;
    else if ((unsigned long long)st.st_size != FILE_HEADER_LEN + (unsigned long long)h->size)
        rc = EINVAL; /* protocol H.9: only a file whose data length matches its header is served */
    if (rc) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

int file_store_read(int fd, uint32_t offset, void *buf, size_t len)
{
    uint8_t *p = buf;
    off_t at = (off_t)FILE_HEADER_LEN + offset;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, at);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return EIO; /* shorter than its header says: truncated under us */
        p += n;
        len -= (size_t)n;
        at += n;
    }
    return 0;
}

int file_store_remove(const char *dir, const char *task_id)
{
    char path[4096];
    file_store_path(dir, task_id, 0, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        return errno;
    return 0;
}

int file_store_free_space(const char *dir, unsigned long long *out)
{
    struct statvfs sv;
    if (statvfs(dir, &sv) != 0)
        return errno;
    *out = (unsigned long long)sv.f_bavail * sv.f_frsize;
    return 0;
}

int file_store_sweep_partial(const char *dir, long long stale_s, time_t now)
{
    DIR *top = opendir(dir);
    if (top == NULL)
        return 0;
    int removed = 0;
    struct dirent *d;
    while ((d = readdir(top)) != NULL) {
        if (strlen(d->d_name) != 2 || d->d_name[0] == '.')
            continue;
        char shard[4096];
        int len = snprintf(shard, sizeof shard, "%s/%s", dir, d->d_name);
        if (len < 0 || (size_t)len >= sizeof shard)
            continue; /* a storage_dir this long is refused at start; never open a cut path */
        DIR *sd = opendir(shard);
        if (sd == NULL)
            continue;
        struct dirent *e;
        while ((e = readdir(sd)) != NULL) {
            size_t n = strlen(e->d_name);
            if (n != FILE_TASK_ID_LEN + 5 || strcmp(e->d_name + FILE_TASK_ID_LEN, ".part") != 0)
                continue;
            char path[4096 + 64];
            len = snprintf(path, sizeof path, "%s/%s", shard, e->d_name);
            if (len < 0 || (size_t)len >= sizeof path)
                continue;
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (long long)(now - st.st_mtime) >= stale_s &&
                unlink(path) == 0)
                removed++;
        }
        closedir(sd);
    }
    closedir(top);
    return removed;
}
