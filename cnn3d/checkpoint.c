/* checkpoint.c - versioned binary checkpoints of a net (for resuming training
 * and for prediction).
 *
 * Layout (little-endian, as written by x86/ARM hosts):
 *     "HSICNN\0\1"          magic (8 bytes)
 *     u32 version (1)
 *     u32 len, spec text    the spec the net was built from
 *     u32 bands, classes, in_h, in_w
 *     u64 n_params, n_state, iterations;  u32 epoch;  u64 rng[4]
 *     u32 radius, border;  u64 seed;  u32 len, band selection text
 *     u32 n_classes, then n_classes+1 x (name[64], rgb[3])
 *     u8 has_preprocess, then the hsi_preprocess_write() record
 *     u8 has_optimizer; f32 params[n_params]; f32 state[n_state];
 *       with the optimiser: f32 m[n_params], v[n_params]
 *     u64 FNV-1a 64 of every byte above
 * The whole file is checked before anything is trusted.
 */
#include "cnn3d/cnn.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic.h"
#include "base/file.h"
#include "features/preprocess.h"

static const char ckpt_magic[8] = {'H', 'S', 'I', 'C', 'N', 'N', '\0', '\1'};
#define CKPT_VERSION 1u

static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void hsi_cnn_meta_clear(hsi_cnn_meta *meta)
{
    if (!meta) return;
    hsi_preprocess_free(meta->preprocess);
    free(meta->classes);
    memset(meta, 0, sizeof *meta);
}

static int put(FILE *fp, const void *p, size_t n)
{
    return n && fwrite(p, 1, n, fp) != n;
}

static int put_u32(FILE *fp, uint32_t v)
{
    return put(fp, &v, 4);
}

static int put_u64(FILE *fp, uint64_t v)
{
    return put(fp, &v, 8);
}

hsi_status hsi_cnn_checkpoint_write(const char *path, const hsi_cnn_net *net,
                                    const hsi_cnn_meta *meta)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) return hsi_error(HSI_ERR_NOMEM, "%s: out of memory", path);
    const hsi_cnn_spec *s = net->spec;
    uint32_t spec_len = (uint32_t)strlen(s->text);
    int e = put(mem, ckpt_magic, 8) | put_u32(mem, CKPT_VERSION) | put_u32(mem, spec_len) |
            put(mem, s->text, spec_len) | put_u32(mem, (uint32_t)net->input.d) |
            put_u32(mem, (uint32_t)net->classes) | put_u32(mem, (uint32_t)net->input.h) |
            put_u32(mem, (uint32_t)net->input.w) | put_u64(mem, net->n_params) |
            put_u64(mem, net->n_state) | put_u64(mem, net->iterations) |
            put_u32(mem, (uint32_t)net->epoch);
    for (int i = 0; i < 4; i++) e |= put_u64(mem, net->rng.s[i]);
    hsi_cnn_meta empty = {0};
    if (!meta) meta = &empty;
    uint32_t bands_len = (uint32_t)strnlen(meta->bands, sizeof meta->bands);
    e |= put_u32(mem, (uint32_t)meta->radius) | put_u32(mem, (uint32_t)meta->border) |
         put_u64(mem, meta->seed) | put_u32(mem, bands_len) | put(mem, meta->bands, bands_len);
    int nc = meta->classes ? meta->n_classes : 0;
    e |= put_u32(mem, (uint32_t)nc);
    for (int k = 0; nc && k <= nc; k++) {
        /* Zero-padded: bytes after the terminator must not leak into the file. */
        char padded[HSI_CLASS_NAME_MAX] = {0};
        memcpy(padded, meta->classes[k].name, strnlen(meta->classes[k].name, HSI_CLASS_NAME_MAX - 1));
        e |= put(mem, padded, HSI_CLASS_NAME_MAX) | put(mem, meta->classes[k].rgb, 3);
    }
    uint8_t has_pre = meta->preprocess != NULL;
    e |= put(mem, &has_pre, 1);
    hsi_status st = HSI_OK;
    if (!e && has_pre) st = hsi_preprocess_write(meta->preprocess, mem);
    uint8_t has_opt = net->training;
    e |= put(mem, &has_opt, 1);
    /* Parameters live in backend memory: copy them out through the backend. */
    size_t nf = net->n_params * (has_opt ? 3 : 1) + net->n_state;
    float *host = malloc((nf + 1) * sizeof *host);
    if (!host) e = 1;
    else {
        net->be->download(net->be, host, net->params, net->n_params * sizeof *host);
        net->be->download(net->be, host + net->n_params, net->state, net->n_state * sizeof *host);
        if (has_opt) {
            float *m = host + net->n_params + net->n_state;
            net->be->download(net->be, m, net->opt_m, net->n_params * sizeof *host);
            net->be->download(net->be, m + net->n_params, net->opt_v, net->n_params * sizeof *host);
        }
        e |= put(mem, host, nf * sizeof *host);
        free(host);
    }
    if (fclose(mem) != 0) e = 1;
    if (e || st) {
        free(buf);
        return st ? st : hsi_error(HSI_ERR_NOMEM, "%s: out of memory serialising the net", path);
    }
    uint64_t sum = fnv1a64((unsigned char *)buf, len);
    hsi_atomic_file f;
    if ((st = hsi_atomic_open(&f, path))) {
        free(buf);
        return st;
    }
    if (fwrite(buf, 1, len, f.fp) != len || fwrite(&sum, 8, 1, f.fp) != 1) {
        int err = errno;
        hsi_atomic_abort(&f);
        free(buf);
        return hsi_error(HSI_ERR_IO, "%s: write failed: %s", path, strerror(err));
    }
    free(buf);
    return hsi_atomic_commit(&f);
}

/* A bounds-checked reader over the loaded file. */
typedef struct reader {
    const unsigned char *p;
    size_t len, pos;
    int short_read;
} reader;

static void get(reader *r, void *dst, size_t n)
{
    if (r->short_read || n > r->len - r->pos) {
        r->short_read = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
}

static uint32_t get_u32(reader *r)
{
    uint32_t v;
    get(r, &v, 4);
    return v;
}

static uint64_t get_u64(reader *r)
{
    uint64_t v;
    get(r, &v, 8);
    return v;
}

hsi_status hsi_cnn_checkpoint_read(const char *path, int training, int max_batch,
                                   const hsi_cnn_backend *backend, hsi_cnn_net **net_out,
                                   hsi_cnn_meta *meta)
{
    *net_out = NULL;
    if (meta) memset(meta, 0, sizeof *meta);
    unsigned char *buf;
    size_t len;
    hsi_status read_st = hsi_file_read_all(path, SIZE_MAX, "", &buf, &len);
    if (read_st) return read_st;
    hsi_status st = HSI_OK;
    hsi_cnn_spec *spec = NULL;
    hsi_cnn_net *net = NULL;
    hsi_cnn_meta m = {0};
    char *text = NULL;
    if (len < 8 || memcmp(buf, ckpt_magic, 7) != 0) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: not an hsi CNN checkpoint", path);
        goto done;
    }
    if (len < 8 + 4 + 8) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint truncated", path);
        goto done;
    }
    uint64_t stored;
    memcpy(&stored, buf + len - 8, 8);
    if (fnv1a64(buf, len - 8) != stored) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint corrupt or truncated (checksum mismatch)",
                       path);
        goto done;
    }
    reader r = {buf, len - 8, 8, 0};
    uint32_t version = get_u32(&r);
    if (version != CKPT_VERSION) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint version %u; this hsi reads version %u",
                       path, version, CKPT_VERSION);
        goto done;
    }
    uint32_t spec_len = get_u32(&r);
    if (spec_len > r.len - r.pos) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint has an impossible spec length", path);
        goto done;
    }
    text = malloc(spec_len + 1);
    if (!text) {
        st = hsi_error(HSI_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    get(&r, text, spec_len);
    text[spec_len] = '\0';
    int bands = (int)get_u32(&r), classes = (int)get_u32(&r);
    int in_h = (int)get_u32(&r), in_w = (int)get_u32(&r);
    uint64_t n_params = get_u64(&r), n_state = get_u64(&r), iterations = get_u64(&r);
    int epoch = (int)get_u32(&r);
    hsi_rng rng;
    for (int i = 0; i < 4; i++) rng.s[i] = get_u64(&r);
    m.radius = (int)get_u32(&r);
    m.border = (int)get_u32(&r);
    m.seed = get_u64(&r);
    uint32_t bands_len = get_u32(&r);
    if (bands_len >= sizeof m.bands) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint has an impossible band list", path);
        goto done;
    }
    get(&r, m.bands, bands_len);
    uint32_t nc = get_u32(&r);
    if (nc > 65535) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint has an impossible class table", path);
        goto done;
    }
    if (nc) {
        m.n_classes = (int)nc;
        m.classes = calloc(nc + 1, sizeof *m.classes);
        if (!m.classes) {
            st = hsi_error(HSI_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        for (uint32_t k = 0; k <= nc; k++) {
            get(&r, m.classes[k].name, HSI_CLASS_NAME_MAX);
            m.classes[k].name[HSI_CLASS_NAME_MAX - 1] = '\0';
            get(&r, m.classes[k].rgb, 3);
        }
    }
    uint8_t has_pre = 0;
    get(&r, &has_pre, 1);
    if (has_pre && !r.short_read) {
        FILE *mem = fmemopen((void *)(r.p + r.pos), r.len - r.pos, "rb");
        if (!mem) {
            st = hsi_error(HSI_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        st = hsi_preprocess_read(mem, path, &m.preprocess);
        long used = ftell(mem);
        fclose(mem);
        if (st) goto done;
        r.pos += (size_t)used;
    }
    uint8_t has_opt = 0;
    get(&r, &has_opt, 1);
    if (r.short_read) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint header truncated", path);
        goto done;
    }
    if ((st = hsi_cnn_spec_parse(text, path, &spec))) {
        hsi_error_prefix(st, "%s: the checkpoint's spec", path);
        goto done;
    }
    if (spec->in_h != in_h || spec->in_w != in_w) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint shapes disagree with its spec", path);
        goto done;
    }
    hsi_cnn_net_options o = {.bands = bands, .classes = classes, .max_batch = max_batch,
                             .training = training, .backend = backend};
    if ((st = hsi_cnn_net_new(spec, &o, &net))) {
        hsi_error_prefix(st, "%s", path);
        goto done;
    }
    if (net->n_params != n_params || net->n_state != n_state) {
        st = hsi_error(HSI_ERR_FORMAT,
                       "%s: checkpoint holds %llu parameters, its spec needs %zu (mismatched file)",
                       path, (unsigned long long)n_params, net->n_params);
        goto done;
    }
    size_t need = (n_params * (has_opt ? 3 : 1) + n_state) * sizeof(float);
    if (r.len - r.pos != need) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint has %zu bytes of parameters, expected %zu",
                       path, r.len - r.pos, need);
        goto done;
    }
    const float *f = (const float *)(r.p + r.pos);
    net->be->upload(net->be, net->params, f, n_params * sizeof(float));
    net->be->upload(net->be, net->state, f + n_params, n_state * sizeof(float));
    if (training && has_opt) {
        net->be->upload(net->be, net->opt_m, f + n_params + n_state, n_params * sizeof(float));
        net->be->upload(net->be, net->opt_v, f + 2 * n_params + n_state, n_params * sizeof(float));
    }
    net->iterations = iterations;
    net->epoch = epoch;
    net->rng = rng;
done:
    free(buf);
    free(text);
    hsi_cnn_spec_free(spec);
    if (st) {
        hsi_cnn_net_free(net);
        hsi_cnn_meta_clear(&m);
        return st;
    }
    *net_out = net;
    if (meta) *meta = m;
    else hsi_cnn_meta_clear(&m);
    return HSI_OK;
}
