/* cli.h - shared helpers for subcommands (the only code that prints). */
#ifndef KH_CLI_H
#define KH_CLI_H

#include <signal.h>
#include <stdbool.h>

#define X(name, fn, summary) int fn(int argc, char **argv);
#include "cli/commands.def"
#undef X

/* True when argv[1..] contains -h or --help. */
bool cli_wants_help(int argc, char **argv);
/* Prints "khappy: <message>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a whole decimal number in [min, max]; false otherwise. */
bool cli_parse_long(const char *text, long min, long max, long *out);

/* For long-running commands: blocks SIGINT and SIGTERM in the calling
 * thread (call it before any thread starts: they inherit the mask) so that
 * sigwait(stop_signals) in the main thread takes them, and ignores SIGPIPE.
 * Fills *stop_signals. */
void cli_block_stop_signals(sigset_t *stop_signals);

#endif
