/* guard.c - the input registry, the output rules and the temporary-file
 * table with its signal handler (see guard.h). */
#include "base/guard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

/* ---------------------------------------------------------------- inputs */

typedef struct input_entry {
    dev_t dev;
    ino_t ino;
    char *name;
    char kind[HSI_KIND_MAX]; /* "" for none */
} input_entry;

static pthread_mutex_t inputs_lock = PTHREAD_MUTEX_INITIALIZER;
static input_entry *inputs;
static size_t n_inputs, cap_inputs;

static void add_input(dev_t dev, ino_t ino, const char *path, const char *kind)
{
    if (!kind) kind = "";
    pthread_mutex_lock(&inputs_lock);
    for (size_t i = 0; i < n_inputs; i++)
        if (inputs[i].dev == dev && inputs[i].ino == ino) {
            /* Read as two kinds of file: no output may replace it. */
            if (strcmp(inputs[i].kind, kind) != 0) inputs[i].kind[0] = '\0';
            goto done;
        }
    if (n_inputs == cap_inputs) {
        size_t cap = cap_inputs ? 2 * cap_inputs : 16;
        input_entry *grown = realloc(inputs, cap * sizeof *grown);
        /* Out of memory: the file goes unguarded rather than failing a read. */
        if (!grown) goto done;
        inputs = grown;
        cap_inputs = cap;
    }
    char *name = strdup(path);
    if (!name) goto done;
    input_entry *e = &inputs[n_inputs++];
    *e = (input_entry){dev, ino, name, ""};
    snprintf(e->kind, sizeof e->kind, "%s", kind);
done:
    pthread_mutex_unlock(&inputs_lock);
}

void hsi_input_register(const char *path)
{
    struct stat sb;
    if (path && stat(path, &sb) == 0) add_input(sb.st_dev, sb.st_ino, path, NULL);
}

void hsi_input_register_fd(int fd, const char *path, const char *kind)
{
    struct stat sb;
    if (fstat(fd, &sb) == 0) add_input(sb.st_dev, sb.st_ino, path, kind);
}

void hsi_input_forget_all(void)
{
    pthread_mutex_lock(&inputs_lock);
    for (size_t i = 0; i < n_inputs; i++) free(inputs[i].name);
    free(inputs);
    inputs = NULL;
    n_inputs = cap_inputs = 0;
    pthread_mutex_unlock(&inputs_lock);
}

/* The input (dev, ino) that an output of `kind` may not replace, or NULL. */
static const char *find_input(dev_t dev, ino_t ino, const char *kind)
{
    const char *name = NULL;
    pthread_mutex_lock(&inputs_lock);
    for (size_t i = 0; i < n_inputs && !name; i++)
        if (inputs[i].dev == dev && inputs[i].ino == ino &&
            !(kind && *kind && strcmp(inputs[i].kind, kind) == 0))
            name = inputs[i].name;
    pthread_mutex_unlock(&inputs_lock);
    return name;
}

const char *hsi_input_find(dev_t dev, ino_t ino)
{
    return find_input(dev, ino, NULL);
}

const char *hsi_file_kind(mode_t mode)
{
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISLNK(mode)) return "a symbolic link";
    return "not a regular file";
}

/* --------------------------------------------------------------- outputs */

static hsi_status not_regular(const char *shown, mode_t mode, int via_link)
{
    if (S_ISDIR(mode) && !via_link) return hsi_error(HSI_ERR_IO, "%s: is a directory", shown);
    return hsi_error(HSI_ERR_IO, "%s: %s%s; outputs must be regular files", shown,
                     via_link ? "symbolic link to " : "is ", hsi_file_kind(mode));
}

static hsi_status not_an_input(const struct stat *sb, const char *shown, const char *kind)
{
    const char *in = find_input(sb->st_dev, sb->st_ino, kind);
    if (in)
        return hsi_error(HSI_ERR_IO, "%s: is also an input (%s); refusing to overwrite it", shown,
                         in);
    return HSI_OK;
}

hsi_status hsi_output_target(const char *path, const char *kind, char **target)
{
    *target = NULL;
    struct stat sb;
    char *resolved = NULL;
    if (lstat(path, &sb) != 0) {
        if (errno != ENOENT)
            return hsi_error(HSI_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    } else {
        if (S_ISLNK(sb.st_mode)) {
            if (stat(path, &sb) != 0) {
                if (errno == ENOENT)
                    return hsi_error(HSI_ERR_IO,
                                     "%s: dangling symbolic link; refusing to write through it",
                                     path);
                return hsi_error(HSI_ERR_IO, "%s: cannot follow symbolic link: %s", path,
                                 strerror(errno));
            }
            if (!S_ISREG(sb.st_mode)) return not_regular(path, sb.st_mode, 1);
            resolved = realpath(path, NULL);
            if (!resolved)
                return hsi_error(HSI_ERR_IO, "%s: cannot follow symbolic link: %s", path,
                                 strerror(errno));
        } else if (!S_ISREG(sb.st_mode)) {
            return not_regular(path, sb.st_mode, 0);
        }
        hsi_status st = not_an_input(&sb, path, kind);
        if (st) {
            free(resolved);
            return st;
        }
    }
    *target = resolved ? resolved : strdup(path);
    if (!*target) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    return HSI_OK;
}

hsi_status hsi_output_check_replace(const char *dest, const char *shown, const char *kind)
{
    struct stat sb;
    if (lstat(dest, &sb) != 0) return HSI_OK; /* absent: the rename says if it cannot */
    if (S_ISLNK(sb.st_mode)) {
        /* The rename replaces the link itself; refuse only when it leads to
         * an input, which a reader of the output's set would then lose. */
        if (stat(dest, &sb) != 0) return HSI_OK;
        return not_an_input(&sb, shown, kind);
    }
    if (!S_ISREG(sb.st_mode)) return not_regular(shown, sb.st_mode, 0);
    return not_an_input(&sb, shown, kind);
}

/* ------------------------------------------------------------ temporaries */

/* Fixed size, so that the signal handler reads it without locks or malloc:
 * a slot is claimed 0 -> 1 by compare-and-swap, filled, then published as 2;
 * the handler touches only published slots. */
#define TEMP_SLOTS 32

typedef struct temp_slot {
    atomic_int state; /* 0 free, 1 being filled, 2 live */
    char dir[PATH_MAX];
    char prefix[NAME_MAX + 1];
    size_t prefix_len;
} temp_slot;

static temp_slot temps[TEMP_SLOTS];

int hsi_temp_add(const char *tmp_path, size_t stem_len)
{
    const char *slash = strrchr(tmp_path, '/');
    const char *base = slash ? slash + 1 : tmp_path;
    size_t dir_len = slash ? (size_t)(slash - tmp_path) : 0;
    if (stem_len < (size_t)(base - tmp_path)) return 0;
    size_t prefix_len = stem_len - (size_t)(base - tmp_path);
    if (dir_len + 2 > PATH_MAX || strlen(base) > NAME_MAX || prefix_len == 0) return 0;
    for (int i = 0; i < TEMP_SLOTS; i++) {
        int free_state = 0;
        if (!atomic_compare_exchange_strong(&temps[i].state, &free_state, 1)) continue;
        temp_slot *s = &temps[i];
        if (slash == tmp_path) strcpy(s->dir, "/");
        else if (slash) memcpy(s->dir, tmp_path, dir_len), s->dir[dir_len] = '\0';
        else strcpy(s->dir, ".");
        memcpy(s->prefix, base, prefix_len);
        s->prefix[prefix_len] = '\0';
        s->prefix_len = prefix_len;
        atomic_store(&s->state, 2);
        return i + 1;
    }
    return 0;
}

void hsi_temp_forget(int handle)
{
    if (handle > 0 && handle <= TEMP_SLOTS) atomic_store(&temps[handle - 1].state, 0);
}

/* Remove every file in slot s's directory whose name starts with its
 * prefix. Async-signal-safe: open, getdents64, unlinkat, close. */
static void remove_slot_files(const temp_slot *s)
{
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return;
#ifdef SYS_getdents64
    /* Removing entries while reading the directory may make the scan skip
     * some on some file systems: rescan until a pass removes nothing. */
    for (int pass = 0; pass < 4; pass++) {
        int removed = 0;
        char buf[8192];
        lseek(dfd, 0, SEEK_SET);
        for (;;) {
            long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
            if (n <= 0) break;
            for (long off = 0; off < n;) {
                /* struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name */
                unsigned short reclen;
                memcpy(&reclen, buf + off + 16, sizeof reclen);
                const char *name = buf + off + 19;
                if (strncmp(name, s->prefix, s->prefix_len) == 0 && unlinkat(dfd, name, 0) == 0)
                    removed = 1;
                off += reclen;
            }
        }
        if (!removed) break;
    }
#else
    /* No portable signal-safe directory scan: the file and the side files
     * GDAL's drivers make (ENVI .hdr, PAM .aux.xml). */
    static const char *const sides[] = {"", ".hdr", ".aux.xml", ".tif", ".tif.aux.xml"};
    for (size_t k = 0; k < sizeof sides / sizeof *sides; k++) {
        char name[NAME_MAX + 1];
        size_t len = strlen(sides[k]);
        if (s->prefix_len + len > NAME_MAX) continue;
        memcpy(name, s->prefix, s->prefix_len);
        memcpy(name + s->prefix_len, sides[k], len + 1);
        unlinkat(dfd, name, 0);
    }
#endif
    close(dfd);
}

static const int fatal_signals[] = {SIGINT, SIGTERM, SIGHUP};

static void cleanup_handler(int sig)
{
    int saved_errno = errno;
    for (int i = 0; i < TEMP_SLOTS; i++)
        if (atomic_load(&temps[i].state) == 2) remove_slot_files(&temps[i]);
    /* Die of the same signal, so that the parent sees what happened. */
    signal(sig, SIG_DFL);
    errno = saved_errno;
    raise(sig);
}

void hsi_signals_hold(sigset_t *saved)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
        sigaddset(&set, fatal_signals[i]);
    pthread_sigmask(SIG_BLOCK, &set, saved);
}

void hsi_signals_release(const sigset_t *saved)
{
    pthread_sigmask(SIG_SETMASK, saved, NULL);
}

hsi_status hsi_cleanup_install(void)
{
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++) {
        struct sigaction old, sa;
        if (sigaction(fatal_signals[i], NULL, &old) != 0)
            return hsi_error(HSI_ERR_IO, "cannot query signal %d: %s", fatal_signals[i],
                             strerror(errno));
        /* nohup, or a background job's SIGINT: the caller wants it ignored. */
        if (old.sa_handler == SIG_IGN) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = cleanup_handler;
        sigfillset(&sa.sa_mask); /* one handler at a time */
        if (sigaction(fatal_signals[i], &sa, NULL) != 0)
            return hsi_error(HSI_ERR_IO, "cannot set a handler for signal %d: %s",
                             fatal_signals[i], strerror(errno));
    }
    return HSI_OK;
}
