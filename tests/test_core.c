/* test_core.c - status messages, cube and label model, RNG, atomic writes,
 * the input registry, output rules and signal cleanup, whole-file reads,
 * comma lists. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/atomic.h"
#include "base/cube.h"
#include "base/file.h"
#include "base/guard.h"
#include "base/ini.h"
#include "base/rng.h"
#include "base/status.h"
#include "tests/check.h"

static void test_status(void)
{
    hsi_status st = hsi_error(HSI_ERR_IO, "%s: cannot open: %s\n", "scene.tif", "No such file");
    CHECK_INT_EQ(st, HSI_ERR_IO);
    CHECK(strcmp(hsi_last_error(), "scene.tif: cannot open: No such file") == 0);
    hsi_error_prefix(st, "reading %s", "x");
    CHECK(strcmp(hsi_last_error(), "reading x: scene.tif: cannot open: No such file") == 0);
    CHECK(strcmp(hsi_status_str(HSI_OK), "success") == 0);
}

static void test_cube(void)
{
    hsi_cube *cube = NULL;
    CHECK_FAILS(hsi_cube_new(0, 5, 5, &cube), HSI_ERR_SIZE, "zero-sized");
    CHECK(cube == NULL);
    CHECK_FAILS(hsi_cube_new((size_t)1 << 40, (size_t)1 << 40, 8, &cube), HSI_ERR_SIZE, "too large");
    CHECK_OK(hsi_cube_new(3, 4, 5, &cube));
    /* BIP layout: pixel (r, c) is contiguous. */
    hsi_cube_pixel(cube, 2, 3)[4] = 7.0f;
    CHECK(cube->data[(2 * 4 + 3) * 5 + 4] == 7.0f);
    double w[5] = {400, 500, 600, 700, 800};
    CHECK_OK(hsi_cube_set_wavelengths(cube, w, NULL));
    CHECK_INT_EQ(hsi_cube_band_at(cube, 640), 2);
    double lo, hi;
    hsi_cube_minmax(cube, &lo, &hi);
    CHECK(lo == 0 && hi == 7);
    CHECK_OK(hsi_cube_check_finite(cube, "c"));
    hsi_cube_pixel(cube, 1, 2)[3] = NAN;
    CHECK_FAILS(hsi_cube_check_finite(cube, "scene.tif"), HSI_ERR_DATA,
                "scene.tif: NaN value at row 2, column 3, band 4");
    cube->geo.has_geotransform = 1;
    cube->geo.geotransform[1] = 20;
    cube->geo.projection_wkt = strdup("LOCAL_CS[\"x\"]");
    hsi_cube *like = NULL;
    CHECK_OK(hsi_cube_new_like(cube, 5, &like));
    CHECK(like->wavelength && like->wavelength[4] == 800);
    CHECK(like->geo.geotransform[1] == 20 && strcmp(like->geo.projection_wkt, "LOCAL_CS[\"x\"]") == 0);
    hsi_cube_free(like);
    hsi_cube_free(cube);
}

static void test_labels(void)
{
    hsi_labels *lab = NULL;
    CHECK_OK(hsi_labels_new(2, 3, 4, &lab));
    uint16_t v[6] = {0, 1, 1, 4, 4, 4};
    memcpy(lab->data, v, sizeof v);
    size_t counts[5];
    hsi_labels_histogram(lab, counts);
    CHECK(counts[0] == 1 && counts[1] == 2 && counts[2] == 0 && counts[4] == 3);
    CHECK_INT_EQ(hsi_labels_max(lab), 4);
    CHECK(strcmp(lab->classes[3].name, "Class 3") == 0);
    CHECK_FAILS(hsi_labels_check_size(lab, 3, 3, "gt.tif"), HSI_ERR_SIZE, "gt.tif: size 2 x 3");
    CHECK_OK(hsi_labels_set_class_count(lab, 20));
    CHECK(strcmp(lab->classes[20].name, "Class 20") == 0);
    /* Default colours are distinct for the first 40 classes. */
    for (int a = 1; a <= 40; a++)
        for (int b = a + 1; b <= 40; b++) {
            uint8_t x[3], y[3];
            hsi_default_class_colour(a, x);
            hsi_default_class_colour(b, y);
            CHECK_MSG(memcmp(x, y, 3) != 0, "classes %d and %d share a colour", a, b);
        }
    hsi_labels_free(lab);
}

static void test_rng(void)
{
    hsi_rng a, b;
    hsi_rng_seed(&a, 42);
    hsi_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) CHECK(hsi_rng_u64(&a) == hsi_rng_u64(&b));
    /* Reference value: first xoshiro256** output from splitmix64(0). */
    hsi_rng_seed(&a, 0);
    uint64_t first = hsi_rng_u64(&a);
    CHECK_MSG(first == 0x99ec5f36cb75f2b4ULL, "got %llx", (unsigned long long)first);
    double sum = 0, sum2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = hsi_rng_normal(&a);
        sum += z;
        sum2 += z * z;
    }
    CHECK_NEAR(sum / n, 0.0, 0.01);
    CHECK_NEAR(sum2 / n, 1.0, 0.02);
    size_t hist[7] = {0};
    for (int i = 0; i < 70000; i++) hist[hsi_rng_below(&a, 7)]++;
    for (int k = 0; k < 7; k++) CHECK_NEAR(hist[k], 10000, 400);
}

static void test_atomic(void)
{
    const char *dir = check_tmpdir("core");
    char path[4200];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    hsi_atomic_file f;
    CHECK_OK(hsi_atomic_open(&f, path));
    fputs("hello", f.fp);
    struct stat sb;
    CHECK(stat(path, &sb) != 0); /* not visible before commit */
    CHECK_OK(hsi_atomic_commit(&f));
    CHECK(stat(path, &sb) == 0 && sb.st_size == 5);
    snprintf(path, sizeof path, "%s/aborted.bin", dir);
    CHECK_OK(hsi_atomic_open(&f, path));
    fputs("x", f.fp);
    hsi_atomic_abort(&f);
    CHECK(stat(path, &sb) != 0);
    CHECK_FAILS(hsi_atomic_open(&f, "/nonexistent-dir/x.bin"), HSI_ERR_IO,
                "/nonexistent-dir/x.bin: cannot create");
    char *tmp = hsi_atomic_temp_name("out/map.tif");
    CHECK(strncmp(tmp, "out/map~hsi-tmp-", 16) == 0 && strcmp(tmp + strlen(tmp) - 4, ".tif") == 0);
    free(tmp);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL);
    if (!fp) return;
    fputs(text, fp);
    fclose(fp);
}

static int file_is(const char *path, const char *text)
{
    unsigned char *buf;
    size_t len;
    if (hsi_file_read_all(path, 1 << 20, "too large", &buf, &len)) return 0;
    int same = len == strlen(text) && memcmp(buf, text, len) == 0;
    free(buf);
    return same;
}

/* No "~hsi-tmp-" name left in dir. */
static int no_temporaries(const char *dir)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -q 'hsi-tmp'", dir);
    return system(cmd) != 0;
}

static void test_outputs(void)
{
    const char *dir = check_tmpdir("core-out");
    char in[4200], hard[4200], dot[4200], lnk[4200], dangling[4200], sub[4200], out[4200];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    snprintf(hard, sizeof hard, "%s/hard.txt", dir);
    snprintf(dot, sizeof dot, "%s/./in.txt", dir);
    snprintf(lnk, sizeof lnk, "%s/link.txt", dir);
    snprintf(dangling, sizeof dangling, "%s/dangling.txt", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(out, sizeof out, "%s/sub/target.txt", dir);
    write_file(in, "input");
    CHECK(link(in, hard) == 0);
    CHECK(mkdir(sub, 0755) == 0);
    write_file(out, "old");
    CHECK(symlink("sub/target.txt", lnk) == 0);
    CHECK(symlink("sub/nowhere.txt", dangling) == 0);

    /* Inputs: by device and inode, whatever the name. */
    hsi_input_forget_all();
    hsi_atomic_file f;
    CHECK_OK(hsi_atomic_open(&f, hard));
    hsi_atomic_abort(&f);
    hsi_input_register(in);
    struct stat sb;
    CHECK(stat(in, &sb) == 0 && hsi_input_find(sb.st_dev, sb.st_ino) != NULL);
    CHECK_FAILS(hsi_atomic_open(&f, hard), HSI_ERR_IO, "hard.txt: is also an input (");
    CHECK(strstr(hsi_last_error(), "in.txt); refusing to overwrite it") != NULL);
    CHECK_FAILS(hsi_atomic_open(&f, dot), HSI_ERR_IO, "is also an input");
    /* An input read after the output was opened is caught at commit. */
    hsi_input_forget_all();
    CHECK(hsi_input_find(sb.st_dev, sb.st_ino) == NULL);
    CHECK_OK(hsi_atomic_open(&f, hard));
    fputs("output", f.fp);
    hsi_input_register(in);
    CHECK_FAILS(hsi_atomic_commit(&f), HSI_ERR_IO, "hard.txt: is also an input");
    CHECK(file_is(in, "input"));
    CHECK(no_temporaries(dir));
    hsi_input_forget_all();
    /* An input of a kind may be replaced by an output of that kind only. */
    unsigned char *kbuf;
    size_t klen;
    CHECK_OK(hsi_file_read_kind(in, 100, "too large", "ckpt", &kbuf, &klen));
    free(kbuf);
    CHECK_FAILS(hsi_atomic_open(&f, hard), HSI_ERR_IO, "is also an input");
    CHECK_FAILS(hsi_atomic_open_kind(&f, hard, "svm"), HSI_ERR_IO, "is also an input");
    CHECK_OK(hsi_atomic_open_kind(&f, hard, "ckpt"));
    hsi_atomic_abort(&f);
    hsi_input_register(in); /* read a second way: no kind any more */
    CHECK_FAILS(hsi_atomic_open_kind(&f, hard, "ckpt"), HSI_ERR_IO, "is also an input");
    hsi_input_forget_all();

    /* Not regular files. */
    CHECK_FAILS(hsi_atomic_open(&f, sub), HSI_ERR_IO, "sub: is a directory");
    CHECK_FAILS(hsi_atomic_open(&f, dangling), HSI_ERR_IO, "dangling.txt: dangling symbolic link");
    char *target = NULL;
    CHECK_FAILS(hsi_output_target("/dev/null", NULL, &target), HSI_ERR_IO,
                "/dev/null: is a character device; outputs must be regular files");
    CHECK(target == NULL);

    /* A symlink is written through to its target and stays a link. */
    CHECK_OK(hsi_atomic_open(&f, lnk));
    fputs("new", f.fp);
    CHECK_OK(hsi_atomic_commit(&f));
    CHECK(lstat(lnk, &sb) == 0 && S_ISLNK(sb.st_mode));
    CHECK(file_is(out, "new"));
    CHECK(no_temporaries(dir) && no_temporaries(sub));

    /* A set whose main rename fails leaves none of its files, side files
     * already renamed included. */
    char tmain[4200], tside[4200], fmain[4200], fside[4200], blocker[4200];
    snprintf(fmain, sizeof fmain, "%s/set.dat", dir);
    snprintf(fside, sizeof fside, "%s/set.hdr", dir);
    snprintf(tmain, sizeof tmain, "%s/set~hsi-tmp-1-0.dat", dir);
    snprintf(tside, sizeof tside, "%s/set~hsi-tmp-1-0.hdr", dir);
    snprintf(blocker, sizeof blocker, "%s/set.dat/x", dir);
    CHECK(mkdir(fmain, 0755) == 0);
    write_file(blocker, "x");
    write_file(tmain, "data");
    write_file(tside, "header");
    char *set[2] = {tmain, tside};
    CHECK_FAILS(hsi_atomic_rename_set(tmain, fmain, set, 2), HSI_ERR_IO, "cannot rename into place");
    CHECK(stat(fside, &sb) != 0 && stat(tside, &sb) != 0 && stat(tmain, &sb) != 0);

    /* Whole-file reads: regular files only, bounded before reading. */
    unsigned char *buf = NULL;
    size_t len;
    CHECK_FAILS(hsi_file_read_all("/dev/zero", 1 << 20, "too large", &buf, &len), HSI_ERR_IO,
                "/dev/zero: not a regular file (a character device)");
    CHECK_FAILS(hsi_file_read_all(sub, 1 << 20, "too large", &buf, &len), HSI_ERR_IO,
                "not a regular file (a directory)");
    CHECK_FAILS(hsi_file_read_all(in, 4, "larger than 4 bytes", &buf, &len), HSI_ERR_FORMAT,
                "in.txt: larger than 4 bytes");
    CHECK(buf == NULL);
    CHECK_OK(hsi_file_read_all(in, 5, "larger than 5 bytes", &buf, &len));
    CHECK(len == 5);
    free(buf);
    CHECK(stat(in, &sb) == 0 && hsi_input_find(sb.st_dev, sb.st_ino) != NULL);
    hsi_input_forget_all();
}

/* The cleanup leaves a signal its caller ignored ignored (nohup's SIGHUP, a
 * background job's SIGINT), so the children below start from the defaults
 * whatever the test runner ignores. */
static void default_signals(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
}

/* A fatal signal removes the registered temporaries and their side files,
 * then kills the process with that signal. */
static void test_signal_cleanup(void)
{
    const char *dir = check_tmpdir("core-sig");
    char tmp[4200], side[4200], other[4200];
    snprintf(tmp, sizeof tmp, "%s/out~hsi-tmp-9-0.dat", dir);
    snprintf(side, sizeof side, "%s/out~hsi-tmp-9-0.hdr", dir);
    snprintf(other, sizeof other, "%s/out.dat", dir);
    write_file(tmp, "partial");
    write_file(side, "header");
    write_file(other, "someone else's");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        default_signals();
        if (hsi_cleanup_install()) _exit(3);
        if (!hsi_temp_add(tmp, strlen(tmp) - 4)) _exit(4);
        raise(SIGTERM);
        _exit(5);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %#x", status);
    struct stat sb;
    CHECK(stat(tmp, &sb) != 0 && stat(side, &sb) != 0);
    CHECK(stat(other, &sb) == 0);

    /* Forgotten temporaries (committed ones) are left alone. */
    write_file(tmp, "committed");
    pid = fork();
    if (pid == 0) {
        default_signals();
        if (hsi_cleanup_install()) _exit(3);
        int h = hsi_temp_add(tmp, strlen(tmp) - 4);
        if (!h) _exit(4);
        hsi_temp_forget(h);
        raise(SIGHUP);
        _exit(5);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGHUP, "status %#x", status);
    CHECK(stat(tmp, &sb) == 0);
}

/* The one comma-list splitter (specs, experiment seeds, --augment, --freeze). */
static void test_list(void)
{
    hsi_list it;
    const char *want[] = {"3", "x y", "7"};
    CHECK(!hsi_list_start(&it, " 3 ,,\tx y\t, 7,"));
    int n = 0;
    for (char *item; (item = hsi_list_next(&it)); n++)
        CHECK_MSG(n < 3 && !strcmp(item, want[n]), "item %d '%s'", n, item);
    CHECK_INT_EQ(n, 3);
    CHECK(!hsi_list_next(&it)); /* and stays at the end */
    CHECK(!hsi_list_start(&it, " , "));
    CHECK(!hsi_list_next(&it));
    char long_text[HSI_LIST_MAX + 1];
    memset(long_text, '1', sizeof long_text - 1);
    long_text[HSI_LIST_MAX - 1] = '\0'; /* the longest that fits */
    CHECK(!hsi_list_start(&it, long_text));
    char *one = hsi_list_next(&it);
    CHECK(one && strlen(one) == HSI_LIST_MAX - 1);
    long_text[HSI_LIST_MAX - 1] = '1', long_text[HSI_LIST_MAX] = '\0';
    CHECK(hsi_list_start(&it, long_text) == -1);
    CHECK(!hsi_list_next(&it));
}

int main(void)
{
    test_status();
    test_cube();
    test_labels();
    test_rng();
    test_atomic();
    test_outputs();
    test_signal_cleanup();
    test_list();
    return check_finish();
}
