/* khappy broker - placeholder until its issue lands; says so plainly. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_broker(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: khappy broker ...\n(not built yet)\n");
        return 0;
    }
    cli_error("'broker' is not built yet");
    return 2;
}
