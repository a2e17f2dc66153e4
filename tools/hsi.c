/* hsi.c - the `hsi` command: dispatch to subcommands.
 *
 *     hsi <command> [options]      run a command
 *     hsi help <command>           its full usage text
 *     hsi --version                version and what was built in
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gdal.h>

#include "base/cpu.h"
#include "base/guard.h"
#include "base/version.h"
#include "cnn3d/conv_taps.h"
#include "eval/maps.h"
#include "tools/cli.h"
#include "tools/command.h"

static const hsi_command *const commands[] = {
    /* Foundation: scenes in and out */
    &cmd_info,
    &cmd_convert,


    /* Datasets: simulator and public scenes */
    &cmd_simulate,
    &cmd_datasets,

    /* Evaluation: splits, reports, maps */
    &cmd_split,
    &cmd_report,
    &cmd_map,


    /* SVM */
    &cmd_svm,


    /* Features */
    &cmd_profile,


    /* CNN */
    &cmd_cnn,

    /* Experiments */
    &cmd_experiment,


    NULL,
};

static const hsi_command *find_command(const char *name)
{
    for (int i = 0; commands[i]; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
}

static void print_overview(FILE *out)
{
    fprintf(out,
            "Usage: hsi <command> [options]\n"
            "       hsi help <command>\n"
            "       hsi --version\n"
            "\n"
            "hsi classifies hyperspectral remote-sensing scenes (AVIRIS Indian Pines,\n"
            "Salinas, Pavia, ...) with a 3D-CNN or an SVM on attribute-profile features.\n"
            "\n"
            "Commands:\n");
    for (int i = 0; commands[i]; i++)
        fprintf(out, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\nRun 'hsi help <command>' for a command's options.\n");
}

static void print_version(void)
{
    printf("hsi %s (%s)\n", hsi_version(), hsi_build_features());
    char line[512];
    hsi_cpu_blas_summary(line, sizeof line);
    printf("%s; hsi kernels: conv taps %s\n", line, hsi_cnn_taps_isa());
    int n = hsi_gpu_count();
    char why[1024];
    if (hsi_have_cuda() && !hsi_cuda_loadable(why, sizeof why)) {
        /* Built, but its module (hsi_cuda.so) or the CUDA libraries it
         * needs cannot be loaded here: the path and the loader's reason. */
        printf("CNN backends: cpu (cuda not loadable: %s)\n", why);
    } else if (hsi_have_cuda()) {
        /* The CNN's backends: the GPU one is built in; whether it can run
         * here is the GPU lines' (or their absence's) business. */
        char libs[256];
        hsi_gpu_libraries(libs, sizeof libs);
        printf("CNN backends: cpu, cuda (%s)%s\n", libs, n ? "" : "; no GPU found");
    } else {
        printf("CNN backends: cpu (built without CUDA)\n");
    }
    for (int i = 0; i < n; i++) {
        char buf[256];
        hsi_gpu_describe(i, buf, sizeof buf);
        printf("GPU %d: %s\n", i, buf);
    }
}

/* At exit: a report, JSON or table that did not reach standard output is a
 * failure, not success (`hsi info --json > /dev/full`). The coreutils
 * close_stdout pattern: a write error seen earlier, or one that flushing
 * and closing show now, exits 1 with one line. */
static void close_stdout(void)
{
    int failed = ferror(stdout);
    int e = 0;
    errno = 0;
    if (fflush(stdout) != 0) e = errno;
    if (fclose(stdout) != 0 && !e) e = errno;
    if (!failed && !e) return;
    if (e)
        fprintf(stderr, "hsi: write error on standard output: %s\n", strerror(e));
    else
        fprintf(stderr, "hsi: write error on standard output\n");
    _exit(1);
}

/* Refuse an output that can never be written (a device, FIFO, socket,
 * directory, dangling symlink) before the command reads a byte, rather than
 * after minutes of work: the writers check again (and for inputs) at write
 * time, so this only moves the common refusals earlier. It sees "-o X",
 * "-oX", "--output X" and "--output=X" (every command's output option);
 * split's -o is a name prefix and experiment's a folder, not a file. */
static int check_outputs(const char *name, int argc, char **argv)
{
    if (!strcmp(name, "split") || !strcmp(name, "experiment")) return 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *value = NULL;
        if (!strcmp(a, "--")) break;
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) value = i + 1 < argc ? argv[++i] : NULL;
        else if (!strncmp(a, "--output=", 9)) value = a + 9;
        else if (a[0] == '-' && a[1] == 'o' && a[2]) value = a + 2;
        if (!value || !*value) continue;
        char *target = NULL;
        hsi_status st = hsi_output_target(value, NULL, &target);
        free(target);
        if (st) return cli_fail(name, st);
    }
    return 0;
}

int main(int argc, char **argv)
{
    /* OpenBLAS chose its kernels from the CPU model when it loaded; where it
     * chose older ones than this CPU runs, run again, once, with
     * OPENBLAS_CORETYPE set (base/cpu.h). A user's OPENBLAS_CORETYPE stands. */
    const char *core = hsi_blas_reexec_coretype();
    if (core && !setenv("OPENBLAS_CORETYPE", core, 1) &&
        !setenv(HSI_BLAS_REEXEC_ENV, hsi_blas_reexec_marker(), 1)) {
        execv("/proc/self/exe", argv);
        fprintf(stderr, "hsi: warning: cannot re-execute with OPENBLAS_CORETYPE=%s (%s); "
                "running on slower BLAS kernels\n", core, strerror(errno));
    }
    atexit(close_stdout);
    atexit(hsi_graphics_release); /* cairo's font caches: no leak reports at exit */
    /* Temporary output files go away with SIGINT, SIGTERM and SIGHUP. */
    if (hsi_cleanup_install()) {
        fprintf(stderr, "hsi: %s\n", hsi_last_error());
        return 1;
    }
    if (argc < 2) {
        print_overview(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        print_overview(stdout);
        return 0;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        print_version();
        return 0;
    }
    if (!strcmp(name, "help")) {
        if (argc < 3) {
            print_overview(stdout);
            return 0;
        }
        const hsi_command *cmd = find_command(argv[2]);
        if (!cmd) {
            fprintf(stderr, "hsi: no command '%s'; run 'hsi --help' for the list\n", argv[2]);
            return 2;
        }
        fputs(cmd->usage, stdout);
        return 0;
    }
    const hsi_command *cmd = find_command(name);
    if (!cmd) {
        fprintf(stderr, "hsi: no command '%s'; run 'hsi --help' for the list\n", name);
        return 2;
    }
    /* Quiet GDAL's own stderr chatter: the library turns GDAL errors into
     * hsi messages, and tools print those. */
    GDALAllRegister();
    CPLSetErrorHandler(CPLQuietErrorHandler);
    if (check_outputs(cmd->name, argc, argv)) return 1;
    char label[64];
    snprintf(label, sizeof label, "hsi %s", cmd->name);
    argv[1] = label;
    int rc = cmd->run(argc - 1, argv + 1);
    GDALDestroyDriverManager();
    return rc;
}
