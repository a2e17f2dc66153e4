/* mat.c - MATLAB .mat files (v5 and v7.3) through libmatio.
 *
 * MATLAB stores arrays column-major: element (r, c, b) of a rows x cols x
 * bands array sits at r + c*rows + b*rows*cols. We convert to BIP on read.
 * Without a --var, the cube reader picks the largest numeric 3-D variable
 * (or folds a 2-D bands x pixels matrix when scalar `lines` and `cols`
 * variables give the image size, as in the Jasper Ridge file), and the label
 * reader the largest numeric 2-D variable.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "base/guard.h"
#include "io/io_internal.h"

#ifndef HAVE_MATIO

hsi_status hsi_mat_read_cube(const char *path, const char *var, hsi_cube **out, char *used_var,
                             size_t used_len)
{
    *out = NULL;
    return hsi_error(HSI_ERR_UNSUPPORTED, "%s: .mat files need libmatio (rebuild with libmatio-dev)",
                     path);
}

hsi_status hsi_mat_read_labels(const char *path, const char *var, hsi_labels **out)
{
    *out = NULL;
    return hsi_error(HSI_ERR_UNSUPPORTED, "%s: .mat files need libmatio (rebuild with libmatio-dev)",
                     path);
}

hsi_status hsi_mat_probe(const char *path, const char *var, hsi_file_info *info)
{
    return hsi_error(HSI_ERR_UNSUPPORTED, "%s: .mat files need libmatio (rebuild with libmatio-dev)",
                     path);
}

#else

#include <errno.h>
#include <matio.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static int is_numeric(const matvar_t *v)
{
    if (v->isComplex) return 0;
    switch (v->class_type) {
    case MAT_C_DOUBLE: case MAT_C_SINGLE:
    case MAT_C_INT8: case MAT_C_UINT8: case MAT_C_INT16: case MAT_C_UINT16:
    case MAT_C_INT32: case MAT_C_UINT32: case MAT_C_INT64: case MAT_C_UINT64:
        return 1;
    default:
        return 0;
    }
}

static const char *class_name(enum matio_classes c)
{
    switch (c) {
    case MAT_C_DOUBLE: return "double";
    case MAT_C_SINGLE: return "single";
    case MAT_C_INT8: return "int8";
    case MAT_C_UINT8: return "uint8";
    case MAT_C_INT16: return "int16";
    case MAT_C_UINT16: return "uint16";
    case MAT_C_INT32: return "int32";
    case MAT_C_UINT32: return "uint32";
    case MAT_C_INT64: return "int64";
    case MAT_C_UINT64: return "uint64";
    default: return "non-numeric";
    }
}

static size_t element_count(const matvar_t *v)
{
    size_t n = 1;
    for (int i = 0; i < v->rank; i++) n *= v->dims[i];
    return n;
}

/* Element i of a numeric variable as a double. */
static double element(const matvar_t *v, size_t i)
{
    switch (v->class_type) {
    case MAT_C_DOUBLE: return ((const double *)v->data)[i];
    case MAT_C_SINGLE: return ((const float *)v->data)[i];
    case MAT_C_INT8: return ((const int8_t *)v->data)[i];
    case MAT_C_UINT8: return ((const uint8_t *)v->data)[i];
    case MAT_C_INT16: return ((const int16_t *)v->data)[i];
    case MAT_C_UINT16: return ((const uint16_t *)v->data)[i];
    case MAT_C_INT32: return ((const int32_t *)v->data)[i];
    case MAT_C_UINT32: return ((const uint32_t *)v->data)[i];
    case MAT_C_INT64: return (double)((const int64_t *)v->data)[i];
    case MAT_C_UINT64: return (double)((const uint64_t *)v->data)[i];
    default: return NAN;
    }
}

/* ---- a structural check of MATLAB v5 files before matio sees them ----
 *
 * matio trusts the byte counts in element tags: a dimensions element that
 * claims 6 GB makes Mat_VarReadNextInfo allocate 6 GB (found by
 * tests/fuzz/fuzz_mat). A v5 file is a 128-byte header and a sequence of
 * tagged elements (u32 type, u32 byte count; "small" elements pack both in
 * 4 bytes with the data); a miMATRIX (14) holds array flags, dimensions, a
 * name and then data or further miMATRIX elements; miCOMPRESSED (15) holds
 * a zlib stream of one element. We check that every tag fits in its parent
 * and that dimensions and names have plausible sizes. Compressed elements
 * are checked on their first V5_HEAD_BYTES inflated bytes, where the
 * matrix's flags, dimensions and name are. */
#define V5_MAX_DIMS 64        /* MATLAB arrays have far fewer */
#define V5_MAX_NAME 4096
#define V5_MAX_DEPTH 16       /* cells of structs of cells ... */
#define V5_HEAD_BYTES 8192

typedef struct v5_scan {
    int swap; /* the file's byte order differs from ours */
    const char *path;
} v5_scan;

static uint32_t v5_u32(const v5_scan *sc, const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return sc->swap ? __builtin_bswap32(v) : v;
}

/* Check the element whose tag is at p: `present` bytes of it and its
 * followers are in memory, `total` bytes remain in its parent (the rest is
 * on disk or, for a compressed head, not inflated). Sets *size to the
 * element's length with tag and padding. */
static hsi_status v5_check_element(const v5_scan *sc, const unsigned char *p, size_t present,
                                   size_t total, int depth, size_t *size);

/* The sub-elements of a miMATRIX whose data part starts at p. They begin
 * with array flags (miUINT32, 8 bytes: the class in the low byte), the
 * dimensions (miINT32) and the name (miINT8); matio reads these at fixed
 * places whatever their tags say, so their tags must be exactly that. */
static hsi_status v5_check_matrix(const v5_scan *sc, const unsigned char *p, size_t present,
                                  size_t total, int depth)
{
    if (depth > V5_MAX_DEPTH)
        return hsi_error(HSI_ERR_FORMAT, "%s: arrays nested more than %d deep", sc->path, V5_MAX_DEPTH);
    if (total == 0) return HSI_OK; /* an empty element: matio skips it */
    size_t off = 0;
    unsigned klass = 0;
    for (int i = 0; off + 8 <= present && off < total; i++) {
        if (total - off < 8) return hsi_error(HSI_ERR_FORMAT, "%s: truncated array element", sc->path);
        uint32_t type = v5_u32(sc, p + off), bytes = v5_u32(sc, p + off + 4);
        int small = (type >> 16) != 0;
        if (small) {
            bytes = type >> 16;
            type &= 0xffff;
        }
        if (i == 0) {
            if (small || type != 6 || bytes != 8)
                return hsi_error(HSI_ERR_FORMAT, "%s: an array without valid array flags (corrupt)",
                                 sc->path);
            if (off + 16 <= present) klass = v5_u32(sc, p + off + 8) & 0xff;
        } else if (i == 1) {
            if (small || type != 5 || bytes % 4 || bytes / 4 > V5_MAX_DIMS || bytes < 8)
                return hsi_error(HSI_ERR_FORMAT, "%s: an array with %u bytes of dimensions (corrupt)",
                                 sc->path, (unsigned)bytes);
            /* Every element but a sparse matrix's (class 5, whose size is
             * logical) takes at least one byte of the array's element, so
             * the element count is bounded by the array's byte count: matio
             * allocates by the count before it reads. */
            if (off + 8 + bytes <= present && klass != 5) {
                uint64_t count = 1;
                for (uint32_t d = 0; d < bytes / 4; d++) {
                    uint32_t n = v5_u32(sc, p + off + 8 + 4 * d);
                    if (n > INT32_MAX || __builtin_mul_overflow(count, (uint64_t)n, &count)) {
                        count = UINT64_MAX;
                        break;
                    }
                }
                if (count > total)
                    return hsi_error(HSI_ERR_FORMAT,
                                     "%s: an array of %s elements in %zu bytes (truncated or corrupt)",
                                     sc->path, count == UINT64_MAX ? "too many" : "more", total);
            }
        } else if (i == 2) {
            if (type != 1 || bytes > V5_MAX_NAME)
                return hsi_error(HSI_ERR_FORMAT, "%s: an array without a valid name (corrupt)",
                                 sc->path);
        }
        size_t size;
        hsi_status st = v5_check_element(sc, p + off, present - off, total - off, depth + 1, &size);
        if (st) return st;
        off += size;
    }
    return HSI_OK;
}

static hsi_status v5_check_element(const v5_scan *sc, const unsigned char *p, size_t present,
                                   size_t total, int depth, size_t *size)
{
    uint32_t type = v5_u32(sc, p), bytes = v5_u32(sc, p + 4);
    if (type >> 16) { /* small element: up to 4 bytes of data inside the tag */
        *size = 8;
        return HSI_OK;
    }
    if ((size_t)bytes > total - 8)
        return hsi_error(HSI_ERR_FORMAT,
                         "%s: an element of %u bytes where %zu remain (truncated or corrupt)",
                         sc->path, (unsigned)bytes, total - 8);
    /* Uncompressed elements are padded to 8 bytes; the last may omit it. */
    size_t padded = type == 15 ? bytes : ((size_t)bytes + 7) / 8 * 8;
    if (padded > total - 8) padded = total - 8;
    *size = 8 + padded;
    size_t here = present - 8 < padded ? present - 8 : padded;
    if (type == 14) return v5_check_matrix(sc, p + 8, here, bytes, depth);
    if (type != 15) return HSI_OK;
    if (depth > 0) return hsi_error(HSI_ERR_FORMAT, "%s: a compressed element inside an array", sc->path);
    unsigned char *head = malloc(V5_HEAD_BYTES);
    if (!head) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    z_stream z = {0};
    z.next_in = (Bytef *)p + 8;
    z.avail_in = (uInt)here;
    z.next_out = head;
    z.avail_out = V5_HEAD_BYTES;
    if (inflateInit(&z) != Z_OK) {
        free(head);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    int zr = inflate(&z, Z_SYNC_FLUSH);
    size_t got = V5_HEAD_BYTES - z.avail_out;
    inflateEnd(&z);
    hsi_status st = HSI_OK;
    if ((zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) || got < 8)
        st = hsi_error(HSI_ERR_FORMAT, "%s: a compressed variable that does not inflate", sc->path);
    else if (v5_u32(sc, head) == 14)
        /* The inflated matrix's length is unknown until it is all inflated
         * (matio checks it against the stream): bound it by its own tag. */
        st = (double)v5_u32(sc, head + 4) > 1032.0 * (double)padded + 64
                 ? hsi_error(HSI_ERR_FORMAT, "%s: a compressed variable that claims more than "
                                             "zlib can expand to (corrupt)", sc->path)
                 : v5_check_matrix(sc, head + 8, got - 8, v5_u32(sc, head + 4), 1);
    free(head);
    return st;
}

/* Level 4 MAT-files, which matio reads when the v5 header is absent: a
 * sequence of variables, each a 20-byte header (type MOPT, rows, columns,
 * imaginary flag, name length, as int32 in the writer's byte order), the
 * name and the data. matio allocates the name and the data by these counts,
 * so a crafted header of a few bytes asked for gigabytes (tests/fuzz). We
 * require every variable to fit in the file. A file that is no level 4
 * file either is left to matio to refuse. */
static hsi_status v4_check_file(FILE *fp, const char *path, off_t file_size)
{
    static const unsigned elsize[6] = {8, 4, 4, 2, 2, 1}; /* P: double .. uint8 */
    off_t pos = 0;
    while (file_size - pos >= 20) {
        int32_t h[5];
        if (fseeko(fp, pos, SEEK_SET) != 0 || fread(h, 4, 5, fp) != 5)
            return hsi_error(HSI_ERR_IO, "%s: read error", path);
        int32_t type = h[0];
        if (type < 0 || type > 4052) { /* the other byte order */
            for (int i = 0; i < 5; i++) h[i] = (int32_t)__builtin_bswap32((uint32_t)h[i]);
            type = h[0];
        }
        int M = type / 1000, O = type / 100 % 10, P = type / 10 % 10, T = type % 10;
        if (type < 0 || M > 4 || O != 0 || P > 5 || T > 2) {
            if (pos == 0) return HSI_OK; /* not a level 4 file: matio refuses it */
            return hsi_error(HSI_ERR_FORMAT, "%s: a level 4 variable with type %d (corrupt)", path,
                             (int)h[0]);
        }
        int32_t rows = h[1], cols = h[2], imag = h[3], namelen = h[4];
        uint64_t data = 0;
        if (rows < 0 || cols < 0 || imag < 0 || imag > 1 || namelen < 1 || namelen > V5_MAX_NAME ||
            __builtin_mul_overflow((uint64_t)rows, (uint64_t)cols, &data) ||
            __builtin_mul_overflow(data, (uint64_t)elsize[P] * (imag ? 2 : 1), &data) ||
            data > (uint64_t)(file_size - pos - 20) ||
            (uint64_t)namelen > (uint64_t)(file_size - pos - 20) - data)
            return hsi_error(HSI_ERR_FORMAT,
                             "%s: a level 4 variable of %d x %d values and a %d-byte name that "
                             "the file cannot hold (truncated or corrupt)",
                             path, (int)rows, (int)cols, (int)namelen);
        pos += 20 + namelen + (off_t)data;
    }
    return HSI_OK;
}

/* Present in sanitizer builds only (libFuzzer's crash hook). */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

/* HDF5 1.10 can crash on a corrupt file (a SEGV in H5F__accum_read, found by
 * tests/fuzz), and its structure is too rich to check here as we check v4
 * and v5 files. So a v7.3 file is first opened and its variables listed in
 * a child process; only when that child comes back cleanly does this
 * process open it. The cost is one extra open and header walk, not a read
 * of the data. */
static hsi_status probe_mat73_in_child(const char *path)
{
    fflush(NULL); /* the child must not write out our buffered output */
    pid_t pid = fork();
    if (pid < 0) return hsi_error(HSI_ERR_IO, "%s: cannot fork to check it: %s", path, strerror(errno));
    if (pid == 0) {
        /* Whatever the child says (a sanitizer's crash report, HDF5) is
         * noise: the parent reports one line. Under libFuzzer the child also
         * must not write a crash artifact for a crash that is handled. */
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, STDERR_FILENO);
        if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(NULL);
        mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
        if (!mat) _exit(0); /* the parent's own open reports it */
        matvar_t *v;
        while ((v = Mat_VarReadNextInfo(mat)) != NULL) Mat_VarFree(v);
        Mat_Close(mat);
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return hsi_error(HSI_ERR_IO, "%s: waitpid: %s", path, strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return HSI_OK;
    return hsi_error(HSI_ERR_FORMAT,
                     "%s: a corrupt v7.3 MAT-file: the HDF5 library failed reading it (%s %d)", path,
                     WIFSIGNALED(status) ? "signal" : "exit status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* Check a .mat file before matio reads it, by its header: walk a v5 file's
 * top-level elements, a level 4 file's variables (v4_check_file), and open
 * a v7.3 (HDF5) file in a child first (probe_mat73_in_child). */
static hsi_status check_mat_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return hsi_error(HSI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char hdr[128];
    hsi_status st = HSI_OK;
    /* matio knows a v5 file by its version and byte-order mark alone (the
     * text "MATLAB 5.0 MAT-file" is not checked), so neither do we. */
    if (fread(hdr, 1, 128, fp) != 128 ||
        !((hdr[126] == 'I' && hdr[127] == 'M') || (hdr[126] == 'M' && hdr[127] == 'I'))) {
        struct stat sb4;
        st = fstat(fileno(fp), &sb4) != 0 ? hsi_error(HSI_ERR_IO, "%s: %s", path, strerror(errno))
                                          : v4_check_file(fp, path, sb4.st_size);
        fclose(fp);
        return st;
    }
    uint16_t version;
    memcpy(&version, hdr + 124, 2);
    v5_scan sc = {.swap = hdr[126] == 'M', .path = path};
    version = sc.swap ? __builtin_bswap16(version) : version;
    if (version != 0x0100) { /* 0x0200: v7.3 (HDF5); anything else matio refuses */
        fclose(fp);
        return version == 0x0200 ? probe_mat73_in_child(path) : HSI_OK;
    }
    /* One element at a time: its tag and at most V5_HEAD_BYTES of its body
     * (flags, dimensions and name come first; the data is not read here). */
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0) {
        fclose(fp);
        return hsi_error(HSI_ERR_IO, "%s: %s", path, strerror(errno));
    }
    size_t left = sb.st_size > 128 ? (size_t)sb.st_size - 128 : 0;
    unsigned char *el = malloc(8 + V5_HEAD_BYTES);
    if (!el) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
    off_t pos = 128;
    while (!st && left >= 8) {
        size_t want = left < 8 + V5_HEAD_BYTES ? left : 8 + V5_HEAD_BYTES;
        if (fseeko(fp, pos, SEEK_SET) != 0 || fread(el, 1, want, fp) != want) {
            st = hsi_error(HSI_ERR_IO, "%s: read error", path);
            break;
        }
        size_t size;
        st = v5_check_element(&sc, el, want, left, 0, &size);
        pos += (off_t)size;
        left -= size;
    }
    free(el);
    fclose(fp);
    return st;
}

/* matio opens v7.3 files through HDF5, whose default error handler prints a
 * stack of 20 lines to stderr for a corrupt file; hsi reports one line of
 * its own. Declared weak, without HDF5's headers: where matio was built
 * without HDF5 the symbol is absent and there is nothing to silence. */
extern int H5Eset_auto2(int64_t estack_id, void *func, void *client_data) __attribute__((weak));

static hsi_status open_mat(const char *path, mat_t **out)
{
    if (H5Eset_auto2) H5Eset_auto2(0 /* H5E_DEFAULT */, NULL, NULL);
    struct stat sb;
    if (stat(path, &sb) != 0) return hsi_error(HSI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    hsi_status st = check_mat_file(path);
    if (st) return st;
    mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!mat) return hsi_error(HSI_ERR_FORMAT, "%s: not a MATLAB .mat file matio can read", path);
    hsi_input_register(path); /* no output of this run may replace it */
    *out = mat;
    return HSI_OK;
}

/* Bytes of a variable's data in memory; SIZE_MAX when its dimensions
 * overflow. */
static size_t data_bytes(const matvar_t *v)
{
    size_t n = Mat_SizeOfClass(v->class_type);
    if (!n) n = 1;
    for (int i = 0; i < v->rank; i++)
        if (__builtin_mul_overflow(n, v->dims[i], &n)) return SIZE_MAX;
    return n;
}

/* Mat_VarRead, but only when the file can hold the variable's data: matio
 * allocates what the dimensions say before it reads, so a header of a few
 * hundred bytes could ask for gigabytes. Uncompressed data must be in the
 * file; zlib (v5) and HDF5's deflate (v7.3) expand at most about 1032:1. */
static hsi_status read_var(mat_t *mat, const char *path, const char *name, matvar_t **out)
{
    *out = NULL;
    matvar_t *info = Mat_VarReadInfo(mat, name);
    if (!info) return hsi_error(HSI_ERR_FORMAT, "%s: cannot read variable '%s'", path, name);
    size_t need = data_bytes(info);
    int packed = info->compression != MAT_COMPRESSION_NONE || Mat_GetVersion(mat) == MAT_FT_MAT73;
    Mat_VarFree(info);
    struct stat sb;
    if (stat(path, &sb) != 0) return hsi_error(HSI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (need == SIZE_MAX || (double)need > (double)sb.st_size * (packed ? 1032.0 : 1.0))
        return hsi_error(HSI_ERR_FORMAT,
                         "%s: variable '%s' has more elements than the file can hold (truncated or "
                         "corrupt)",
                         path, name);
    matvar_t *v = Mat_VarRead(mat, name);
    if (!v || !v->data) {
        Mat_VarFree(v);
        return hsi_error(HSI_ERR_FORMAT, "%s: cannot read variable '%s'", path, name);
    }
    *out = v;
    return HSI_OK;
}

/* A scalar numeric variable's value, or -1. */
static double scalar_var(mat_t *mat, const char *path, const char *name)
{
    matvar_t *v = NULL;
    double value = -1;
    if (read_var(mat, path, name, &v) == HSI_OK && is_numeric(v) && element_count(v) == 1)
        value = element(v, 0);
    Mat_VarFree(v);
    return value;
}

/* The image size that scalar `lines` and `cols` variables give (Jasper Ridge
 * style bands x pixels matrices); 0 unless both are integers in 1..2^30. */
static int fold_size(mat_t *mat, const char *path, size_t *rows, size_t *cols)
{
    double l = scalar_var(mat, path, "lines"), c = scalar_var(mat, path, "cols");
    if (!(l >= 1 && c >= 1 && l <= 1 << 30 && c <= 1 << 30 && l == floor(l) && c == floor(c)))
        return 0;
    *rows = (size_t)l;
    *cols = (size_t)c;
    return 1;
}

/* Choose the variable: by name, or the largest numeric one of the wanted
 * rank. For cubes (want_rank 3) a 2-D matrix foldable by `lines`/`cols`
 * counts too. Returns a malloc'd name in *name. */
static hsi_status choose_var(mat_t *mat, const char *path, const char *var, int want_rank,
                             char **name)
{
    *name = NULL;
    if (var) {
        matvar_t *v = Mat_VarReadInfo(mat, var);
        if (!v) return hsi_error(HSI_ERR_ARG, "%s: no variable '%s'", path, var);
        int ok = is_numeric(v);
        int rank = v->rank;
        Mat_VarFree(v);
        if (!ok) return hsi_error(HSI_ERR_FORMAT, "%s: variable '%s' is not a real numeric array", path, var);
        if (want_rank == 2 && rank != 2)
            return hsi_error(HSI_ERR_FORMAT, "%s: variable '%s' has %d dimensions; labels need 2", path,
                             var, rank);
        *name = strdup(var);
        return *name ? HSI_OK : hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    size_t best_n = 0, best_n2 = 0;
    char *best = NULL, *best2 = NULL;
    matvar_t *v;
    Mat_Rewind(mat);
    while ((v = Mat_VarReadNextInfo(mat)) != NULL) {
        if (is_numeric(v) && v->name) {
            size_t n = element_count(v);
            int rank = v->rank;
            /* rank 3 with a trailing singleton is a 2-D image. */
            if (rank == 3 && v->dims[2] == 1) rank = 2;
            if (rank == want_rank && n > best_n) {
                best_n = n;
                free(best);
                best = strdup(v->name);
            } else if (want_rank == 3 && rank == 2 && n > best_n2 && v->dims[0] > 1 && v->dims[1] > 1) {
                best_n2 = n;
                free(best2);
                best2 = strdup(v->name);
            }
        }
        Mat_VarFree(v);
    }
    size_t fold_rows, fold_cols;
    if (!best && want_rank == 3 && best2 && fold_size(mat, path, &fold_rows, &fold_cols)) {
        best = best2;
        best2 = NULL;
    }
    free(best2);
    if (!best)
        return hsi_error(HSI_ERR_FORMAT, "%s: no numeric %s variable (name one with --var)", path,
                         want_rank == 3 ? "3-D (rows x cols x bands)" : "2-D (rows x cols)");
    *name = best;
    return HSI_OK;
}

hsi_status hsi_mat_read_cube(const char *path, const char *var, hsi_cube **out, char *used_var,
                             size_t used_len)
{
    *out = NULL;
    mat_t *mat;
    hsi_status st = open_mat(path, &mat);
    if (st) return st;
    char *name = NULL;
    matvar_t *v = NULL;
    hsi_cube *cube = NULL;
    if ((st = choose_var(mat, path, var, 3, &name))) goto done;
    if (used_var) snprintf(used_var, used_len, "%s", name);
    if ((st = read_var(mat, path, name, &v))) goto done;
    if (v->rank == 3) {
        size_t rows = v->dims[0], cols = v->dims[1], bands = v->dims[2];
        if ((st = hsi_cube_new(rows, cols, bands, &cube))) {
            hsi_error_prefix(st, "%s: variable '%s'", path, name);
            goto done;
        }
        for (size_t b = 0; b < bands; b++)
            for (size_t c = 0; c < cols; c++)
                for (size_t r = 0; r < rows; r++)
                    cube->data[(r * cols + c) * bands + b] =
                        (float)element(v, r + c * rows + b * rows * cols);
    } else if (v->rank == 2) {
        /* bands x pixels, pixels in column-major order of a lines x cols image. */
        size_t rows = 0, cols = 0, bands = v->dims[0], pixels = v->dims[1];
        if (!fold_size(mat, path, &rows, &cols) || rows * cols != pixels) {
            st = hsi_error(HSI_ERR_FORMAT,
                           "%s: variable '%s' is 2-D (%zu x %zu) and no `lines`/`cols` variables "
                           "give an image of %zu pixels to fold it into",
                           path, name, bands, pixels, pixels);
            goto done;
        }
        if ((st = hsi_cube_new(rows, cols, bands, &cube))) goto done;
        for (size_t p = 0; p < pixels; p++) {
            size_t r = p % rows, c = p / rows;
            for (size_t b = 0; b < bands; b++)
                cube->data[(r * cols + c) * bands + b] = (float)element(v, b + p * bands);
        }
    } else {
        st = hsi_error(HSI_ERR_FORMAT, "%s: variable '%s' has %d dimensions; a cube needs 3", path,
                       name, v->rank);
        goto done;
    }
done:
    if (st) {
        hsi_cube_free(cube);
        cube = NULL;
    }
    Mat_VarFree(v);
    free(name);
    Mat_Close(mat);
    *out = cube;
    return st;
}

hsi_status hsi_mat_read_labels(const char *path, const char *var, hsi_labels **out)
{
    *out = NULL;
    mat_t *mat;
    hsi_status st = open_mat(path, &mat);
    if (st) return st;
    char *name = NULL;
    matvar_t *v = NULL;
    hsi_labels *lab = NULL;
    if ((st = choose_var(mat, path, var, 2, &name))) goto done;
    if ((st = read_var(mat, path, name, &v))) goto done;
    size_t rows = v->dims[0], cols = v->dims[1];
    int max = 0;
    size_t n = rows * cols;
    for (size_t i = 0; i < n; i++) {
        double x = element(v, i);
        if (!(x >= 0 && x <= 65535 && x == floor(x))) {
            st = hsi_error(HSI_ERR_DATA,
                           "%s: variable '%s' value %g at row %zu, column %zu is not a class label",
                           path, name, x, i % rows + 1, i / rows + 1);
            goto done;
        }
        if (x > max) max = (int)x;
    }
    if ((st = hsi_labels_new(rows, cols, max, &lab))) {
        hsi_error_prefix(st, "%s: variable '%s'", path, name);
        goto done;
    }
    for (size_t c = 0; c < cols; c++)
        for (size_t r = 0; r < rows; r++) lab->data[r * cols + c] = (uint16_t)element(v, r + c * rows);
done:
    Mat_VarFree(v);
    free(name);
    Mat_Close(mat);
    if (st) {
        hsi_labels_free(lab);
        return st;
    }
    *out = lab;
    return HSI_OK;
}

hsi_status hsi_mat_probe(const char *path, const char *var, hsi_file_info *info)
{
    mat_t *mat;
    hsi_status st = open_mat(path, &mat);
    if (st) return st;
    char *name = NULL;
    /* A cube if there is one, else a label-like 2-D variable. */
    if (choose_var(mat, path, var, 3, &name) != HSI_OK && (st = choose_var(mat, path, var, 2, &name))) {
        Mat_Close(mat);
        return st;
    }
    hsi_clear_error();
    matvar_t *v = Mat_VarReadInfo(mat, name);
    snprintf(info->driver, sizeof info->driver, "MAT");
    snprintf(info->driver_long, sizeof info->driver_long, "MATLAB %s file (libmatio)",
             Mat_GetVersion(mat) == MAT_FT_MAT73 ? "7.3 (HDF5)" : Mat_GetVersion(mat) == MAT_FT_MAT4 ? "4" : "5");
    snprintf(info->var, sizeof info->var, "%s", name);
    if (v) {
        snprintf(info->data_type, sizeof info->data_type, "%s", class_name(v->class_type));
        info->rows = v->dims[0];
        info->cols = v->rank > 1 ? v->dims[1] : 1;
        info->bands = v->rank > 2 ? v->dims[2] : 1;
        size_t fold_rows, fold_cols;
        if (v->rank == 2 && fold_size(mat, path, &fold_rows, &fold_cols) &&
            fold_rows * fold_cols == v->dims[1] && v->dims[0] > 1 && !(v->class_type == MAT_C_UINT8)) {
            info->bands = v->dims[0];
            info->rows = fold_rows;
            info->cols = fold_cols;
        }
        info->is_label_like = info->bands == 1 && v->class_type != MAT_C_DOUBLE &&
                              v->class_type != MAT_C_SINGLE;
        if (info->bands == 1 && !info->is_label_like) {
            /* A double 2-D matrix of integers is a label raster too. */
            matvar_t *full = NULL;
            int ints = read_var(mat, path, name, &full) == HSI_OK;
            for (size_t i = 0; ints && i < element_count(full); i++) {
                double x = element(full, i);
                ints = x >= 0 && x <= 65535 && x == floor(x);
            }
            info->is_label_like = ints;
            Mat_VarFree(full);
        }
        Mat_VarFree(v);
    }
    free(name);
    Mat_Close(mat);
    return HSI_OK;
}

#endif /* HAVE_MATIO */
