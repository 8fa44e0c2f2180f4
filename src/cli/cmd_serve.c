/* khappy serve - placeholder until its issue lands; says so plainly. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_serve(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: khappy serve ...\n(not built yet)\n");
        return 0;
    }
    cli_error("'serve' is not built yet");
    return 2;
}
