/* khappy onnx - placeholder until its issue lands; says so plainly. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_onnx(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: khappy onnx ...\n(not built yet)\n");
        return 0;
    }
    cli_error("'onnx' is not built yet");
    return 2;
}
