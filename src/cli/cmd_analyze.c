/* khappy analyze - placeholder until its issue lands; says so plainly. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_analyze(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: khappy analyze ...\n(not built yet)\n");
        return 0;
    }
    cli_error("'analyze' is not built yet");
    return 2;
}
