/* Helpers shared by the subcommands (declared in cli.h). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "cli/cli.h"

bool cli_parse_long(const char *text, long min, long max, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!*text || *end || errno == ERANGE || v < min || v > max)
        return false;
    *out = v;
    return true;
}

void cli_block_stop_signals(sigset_t *stop_signals) {
    sigemptyset(stop_signals);
    sigaddset(stop_signals, SIGINT);
    sigaddset(stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
}
