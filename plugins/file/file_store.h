/*
 * file_store.h — offline files on disk, in the reference's layout (protocol
 * H.9) so that a storage directory written by a reference file server is
 * served as is:
 *
 *   <storage_dir>/<first 2 chars of task id>/<task id>
 *
 * = a 960-byte header of NUL-padded ASCII fields (task_id[128],
 * from_user_id[64], to_user_id[64], create_time[128], file_name[512], written
 * empty as the reference does, file_size[64]; numbers in decimal), then the
 * data. A file is complete when its length is 960 + file_size. An upload is
 * written to "<task id>.part" next to it and renamed into place only after
 * its data is on disk (fsync), so a complete-looking file is never partial.
 *
 * WORKER THREAD only (blocking I/O). Errors are errno values; 0 is success.
 */
#ifndef IMGATE_FILE_STORE_H
#define IMGATE_FILE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define FILE_HEADER_LEN 960

typedef struct file_header {
    char task_id[37];
    uint32_t from_id, to_id, size;
    long long created;
} file_header;

/* The path of a task's file (partial = the upload in progress). */
void file_store_path(const char *dir, const char *task_id, int partial, char *out, size_t len);

/* Starts an upload: creates the directories, the .part file (a stale one of the same task is
 * replaced) and its header. EEXIST when the complete file already exists. */
int file_store_create(const char *dir, const char *task_id, uint32_t from_id, uint32_t to_id, uint32_t size,
                      int *fd_out);
/* Writes data at `offset` of the file data (after the header). */
int file_store_write(int fd, uint32_t offset, const void *data, size_t len);
/* Makes the upload durable (fsync), closes it and renames it into place (never over an existing
 * file), then syncs the directory. The fd is closed whatever the outcome; on failure the .part
 * file is removed. */
int file_store_commit(int fd, const char *dir, const char *task_id);
/* Abandons an upload: removes the .part file the fd (if >= 0) writes, and closes it. */
void file_store_discard(int fd, const char *dir, const char *task_id);

/* Opens a complete stored file and reads its header: ENOENT when there is none, EINVAL when the
 * header does not parse, names another task or the length does not match. */
int file_store_open(const char *dir, const char *task_id, file_header *h, int *fd_out);
/* Reads exactly `len` bytes of file data at `offset`. */
int file_store_read(int fd, uint32_t offset, void *buf, size_t len);
/* Removes a stored file (ENOENT is not an error). */
int file_store_remove(const char *dir, const char *task_id);
/* Bytes available to an unprivileged writer on the storage filesystem. */
int file_store_free_space(const char *dir, unsigned long long *out);

/* Encodes / parses the 960-byte header (pure: any thread). parse returns 0 or EINVAL. */
void file_header_encode(const file_header *h, uint8_t out[FILE_HEADER_LEN]);
int file_header_parse(const uint8_t in[FILE_HEADER_LEN], file_header *h);

/* Removes partial uploads not modified for `stale_s` seconds; returns how many. */
int file_store_sweep_partial(const char *dir, long long stale_s, time_t now);

#endif
