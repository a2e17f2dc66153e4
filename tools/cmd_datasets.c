/* cmd_datasets.c - `hsi datasets [list | show NAME]`: the public benchmark
 * scenes hsi knows (datasets/scenes.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "datasets/scenes.h"
#include "tools/cli.h"

static const char usage[] =
    "Usage: hsi datasets [list]\n"
    "       hsi datasets show NAME\n"
    "\n"
    "The public hyperspectral benchmark scenes hsi knows: Indian Pines, Salinas,\n"
    "Salinas-A, Pavia University, Kennedy Space Center and Botswana, as published\n"
    "by the Grupo de Inteligencia Computacional (University of the Basque Country,\n"
    "'Hyperspectral Remote Sensing Scenes').\n"
    "\n"
    "  list        (the default) one line per scene: name, sensor, size, bands,\n"
    "              classes and the cube's file\n"
    "  show NAME   everything about one scene: place, sizes, removed bands, the\n"
    "              MATLAB variable names, download addresses, byte sizes and\n"
    "              sha256 of the cube and the ground truth, and the class table\n"
    "              (id, name, colour). NAME is case-insensitive and may be written\n"
    "              'indian_pines', 'Indian Pines', 'IndianPines' or 'ip'.\n"
    "\n"
    "To download and verify a scene on a machine with internet access:\n"
    "  datasets/fetch -d DIR NAME       (in the source tree; see --help there)\n"
    "\n"
    "Options:\n"
    "  -q, --quiet  accepted for uniformity (nothing to silence)\n"
    "  -h, --help   show this help\n"
    "\n"
    "Examples:\n"
    "  hsi datasets\n"
    "  hsi datasets show indian_pines\n"
    "\n"
    "Exit status: 0 on success, 2 on a usage error or an unknown scene.\n";

static void list_scenes(void)
{
    printf("%-17s %-22s %-16s %11s %6s %8s  %s\n", "NAME", "TITLE", "SENSOR", "ROWS x COLS", "BANDS",
           "CLASSES", "CUBE FILE");
    for (size_t i = 0; i < hsi_scene_count(); i++) {
        const hsi_scene *s = hsi_scene_at(i);
        char size[32];
        snprintf(size, sizeof size, "%zu x %zu", s->rows, s->cols);
        printf("%-17s %-22s %-16s %11s %6d %8d  %s\n", s->name, s->title, s->sensor, size, s->bands,
               s->n_classes, s->cube.file);
    }
}

static void show_file(const char *what, const hsi_scene_file *f)
{
    char label[32];
    snprintf(label, sizeof label, "%s:", what);
    printf("%-14s%s (MATLAB variable '%s')\n", label, f->file, f->var);
    printf("  address:    %s\n", f->url);
    if (f->bytes) printf("  bytes:      %lld\n", f->bytes);
    else printf("  bytes:      (no reference size known)\n");
    printf("  sha256:     %s\n", f->sha256 ? f->sha256 : "(no reference checksum known)");
}

static void show_scene(const hsi_scene *s)
{
    printf("name:         %s\n", s->name);
    printf("title:        %s\n", s->title);
    printf("sensor:       %s\n", s->sensor);
    printf("place:        %s\n", s->place);
    printf("size:         %zu rows x %zu columns x %d bands (of %d recorded), %.1f m pixels\n",
           s->rows, s->cols, s->bands, s->sensor_bands, s->gsd_m);
    if (*s->removed_bands) printf("removed:      %s\n", s->removed_bands);
    if (*s->note) printf("note:         %s\n", s->note);
    show_file("cube", &s->cube);
    show_file("ground truth", &s->gt);
    printf("classes:      %d\n", s->n_classes);
    printf("  %2s  %-30s %s\n", "id", "name", "colour (R G B)");
    for (int k = 0; k <= s->n_classes; k++) {
        const hsi_class_info *c = &s->classes[k];
        printf("  %2d  %-30s %3d %3d %3d  #%02x%02x%02x\n", k, c->name, c->rgb[0], c->rgb[1], c->rgb[2],
               c->rgb[0], c->rgb[1], c->rgb[2]);
    }
}

static int run(int argc, char **argv)
{
    const char *name = "datasets";
    static const struct option longopts[] = {{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("qh"), longopts, NULL)) != -1) {
        if (c == 'h') return cli_print_usage(&cmd_datasets);
        if (c == 'q') continue;
        return cli_getopt_error(name, NULL, c, argv);
    }
    int nargs = argc - optind;
    const char *action = nargs ? argv[optind] : "list";
    if (!strcmp(action, "list")) {
        if (nargs > 1) return cli_usage_error(name, "'list' takes no argument");
        list_scenes();
        return 0;
    }
    if (!strcmp(action, "show")) {
        if (nargs != 2) return cli_usage_error(name, "'show' needs exactly one scene name");
        const hsi_scene *s;
        if (hsi_scene_lookup(argv[optind + 1], &s)) return cli_usage_error(name, "%s", hsi_last_error());
        show_scene(s);
        return 0;
    }
    return cli_usage_error(name, "unknown action '%s' (list or show NAME)", action);
}

const hsi_command cmd_datasets = {"datasets", "list the public benchmark scenes, or show one", usage,
                                  run};
