/*
 * fs_cmd.h - what the driver's commands share: exit statuses, the usage
 * error line, and one entry point per command (drivers/cmd_<name>.c).
 * Adding a command: a cmd_<name>.c file, its prototype here, one line in
 * main's dispatch and its lines in the usage text (drivers/flagscope.c).
 */
#ifndef FS_CMD_H
#define FS_CMD_H

/* EXIT_INTERRUPTED: a zoo run stopped by SIGTERM/SIGUSR1 after its model in
 * flight; what is done is kept, rerun (requeue) to finish. */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 3 };

/* Prints "flagscope: <fmt with arg>" and the --help hint on stderr; returns EXIT_USAGE. */
int usage_error(const char *fmt, const char *arg);

int cmd_analyze(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_trajectory(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_merge(int argc, char **argv);

/* An output directory, created if missing (cmd_report.c); 0 or FS_ERR with a message. */
int cmd_ensure_dir(const char *dir);
/* The arguments joined by spaces, for the command_line attribute
 * (cmd_analyze.c); malloc'ed, NULL when out of memory. */
char *cmd_join_args(int argc, char **argv);

#endif
