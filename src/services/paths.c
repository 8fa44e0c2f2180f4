/* paths.c - where khappy's shipped folders (models/, triggers/) are, so that
 * `make run` and a binary in a build folder find them without options. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/services.h"

static bool usable(const char *dir, const char *marker) {
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return false;
    if (!marker)
        return true;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, marker) >= (int)sizeof path)
        return false;
    return stat(path, &st) == 0;
}

int kh_find_shipped_dir(const char *name, const char *marker, char *out,
                        size_t size, kh_error *err) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
    } else {
        snprintf(exe, sizeof exe, ".");
    }
    char candidates[5][PATH_MAX];
    snprintf(candidates[0], PATH_MAX, "%s", name);
    snprintf(candidates[1], PATH_MAX, "%.3000s/%s", exe, name);
    snprintf(candidates[2], PATH_MAX, "%.3000s/../%s", exe, name);
    snprintf(candidates[3], PATH_MAX, "%.3000s/../../%s", exe, name);
    snprintf(candidates[4], PATH_MAX, "/usr/share/khappy/%s", name);
    for (size_t i = 0; i < 5; i++)
        if (usable(candidates[i], marker)) {
            char resolved[PATH_MAX];
            const char *path =
                realpath(candidates[i], resolved) ? resolved : candidates[i];
            if (snprintf(out, size, "%s", path) >= (int)size)
                return kh_error_set(err, KH_ELIMIT, "%s: path too long", path);
            return KH_OK;
        }
    return kh_error_set(err, KH_ENOTFOUND, "no %s folder%s%s in ./%s, %s/, "
                        "%s/../, %s/../../ or /usr/share/khappy/", name,
                        marker ? " with " : "", marker ? marker : "", name,
                        exe, exe, exe);
}
