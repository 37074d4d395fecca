/* server_run.h — the daemon's entry point after argument parsing. */
#ifndef IMGATE_SERVER_RUN_H
#define IMGATE_SERVER_RUN_H

/* Runs imgated with the configuration at `config_path` until SIGTERM/SIGINT.
 * Returns the process exit code. */
int server_run(const char *config_path);

#endif
