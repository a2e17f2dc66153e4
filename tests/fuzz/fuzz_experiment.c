/* fuzz_experiment.c - experiment configurations (experiment/config.c over
 * base/ini.c; `hsi experiment CONFIG`), with the rules of
 * hsi_experiment_load: at most 1 MiB, no NUL bytes. A configuration that
 * parses has every job's paths made, as a run would. */
#include <stdlib.h>
#include <string.h>

#include "experiment/experiment.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20) || memchr(data, '\0', size)) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    hsi_experiment *e = NULL;
    if (fuzz_note(hsi_experiment_parse(text, "fuzz.ini", &e)) == HSI_OK) {
        char path[4096];
        for (int j = 0; j < hsi_experiment_jobs(e); j++) {
            int p, s, k;
            hsi_experiment_job(e, j, &p, &s, &k);
            hsi_experiment_job_path(e, "out", j, "result.ini", path, sizeof path);
            hsi_experiment_split_path(e, "out", s, k, "train", path, sizeof path);
        }
        hsi_experiment_free(e);
    }
    free(text);
    return 0;
}
