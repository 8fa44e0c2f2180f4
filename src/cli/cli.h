/* cli.h - shared helpers for subcommands (the only code that prints). */
#ifndef KH_CLI_H
#define KH_CLI_H

#include <stdbool.h>

#define X(name, fn, summary) int fn(int argc, char **argv);
#include "cli/commands.def"
#undef X

/* True when argv[1..] contains -h or --help. */
bool cli_wants_help(int argc, char **argv);
/* Prints "khappy: <message>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
