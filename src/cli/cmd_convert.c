/* khappy convert - face-api TensorFlow.js weights to ONNX. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "convert/convert.h"

static void convert_usage(FILE *out) {
    fprintf(out,
            "usage: khappy convert faceapi-tiny|faceapi-expression "
            "MANIFEST.json -o OUT.onnx\n\n"
            "Converts one of face-api's TensorFlow.js models (the weights "
            "manifest and the\n.bin shards next to it) to an ONNX model "
            "(opset 13).\n\n"
            "  faceapi-tiny        tiny face detector: input 'image' float "
            "[1,3,H,W] RGB 0..255\n"
            "                      (H, W multiples of 32), output 'grid' "
            "[1,25,H/32,W/32]\n"
            "  faceapi-expression  expression net: input 'image' float "
            "[N,3,112,112] RGB 0..255,\n"
            "                      output 'probabilities' [N,7] (neutral, "
            "happy, sad, angry,\n"
            "                      fearful, disgusted, surprised)\n");
}

int cmd_convert(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        convert_usage(stdout);
        return 0;
    }
    const char *kind_name = NULL, *manifest = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
            if (i + 1 >= argc) {
                cli_error("convert: %s needs a file name", argv[i]);
                return 2;
            }
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            cli_error("convert: unknown option '%s'", argv[i]);
            return 2;
        } else if (!kind_name) {
            kind_name = argv[i];
        } else if (!manifest) {
            manifest = argv[i];
        } else {
            cli_error("convert: unexpected argument '%s'", argv[i]);
            return 2;
        }
    }
    if (!kind_name || !manifest || !out) {
        convert_usage(stderr);
        return 2;
    }
    convert_kind kind;
    if (convert_kind_parse(kind_name, &kind)) {
        cli_error("convert: unknown model '%s' (faceapi-tiny or "
                  "faceapi-expression)",
                  kind_name);
        return 2;
    }
    convert_summary summary;
    kh_error err;
    kh_error_clear(&err);
    if (convert_faceapi_file(kind, manifest, out, &summary, &err)) {
        cli_error("convert: %s", err.message);
        return 1;
    }
    printf("%s: %s, %zu nodes, %lld parameters, %zu bytes\n", out,
           convert_kind_name(kind), summary.nodes,
           (long long)summary.parameters, summary.bytes);
    return 0;
}
