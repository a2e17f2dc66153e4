/* cmd_cnn.c - `hsi cnn summary|train|predict|eval`: the 3D-CNN from the
 * command line (specs in cnn3d/specs, engine in cnn3d/). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/memory.h"
#include "base/mpi.h"
#include "base/rng.h"
#include "base/version.h"
#include "cnn3d/cnn.h"
#include "cnn3d/device.h"
#include "cnn3d/dist.h"
#include "features/patch.h"
#include "cnn3d/predict_budget.h"
#include "cnn3d/predict_dense.h"
#include "features/patch_rows.h"
#include "features/preprocess.h"
#include "features/preprocess_stream.h"
#include "io/io.h"
#include "tools/cli.h"

static const char usage[] =
    "Usage: hsi cnn summary SPEC [--bands-count N] [--classes K] [--freeze LAYERS]\n"
    "       hsi cnn train   CUBE --spec SPEC --train LABELS -o MODEL [options]\n"
    "       hsi cnn predict CUBE -m MODEL -o CLASSES [--prob PROB] [options]\n"
    "       hsi cnn eval    CUBE -m MODEL --test LABELS [--csv FILE] [--json FILE] [options]\n"
    "       mpirun -np N hsi cnn train|predict|eval ...\n"
    "\n"
    "Classify every pixel of a hyperspectral scene with a 3D convolutional network\n"
    "that looks at the (2r+1) x (2r+1) x bands patch around it (Lange et al., IGARSS\n"
    "2018, and others). The topology and hyper-parameters come from a text spec\n"
    "(cnn3d/specs/*.cfg: lange2018, hamida2018, li2017, spectral_mlp, mou2017_rnn),\n"
    "so they change without recompiling. The patch size is the spec's input x and\n"
    "y. Besides convolution, pooling and dense layers a spec may hold [lstm] and\n"
    "[gru] layers, which read the bands as a sequence (PyTorch's nn.LSTM / nn.GRU;\n"
    "mou2017_rnn: a GRU over each pixel's spectrum, Mou et al., IEEE TGRS 2017).\n"
    "\n"
    "summary   print the Keras-style table: layers, output shapes, parameters,\n"
    "          FLOPs per sample, totals. 'auto' bands/classes default to 220/16.\n"
    "          With --freeze, frozen layers are marked '*' and not counted as\n"
    "          trainable.\n"
    "train     fit the net on the labelled pixels of LABELS (0 = unlabelled,\n"
    "          classes 1..K) and write MODEL, a checkpoint holding the spec,\n"
    "          weights, optimiser state, preprocessing and class table. Progress\n"
    "          is a Keras-like bar on a terminal, one line per epoch otherwise.\n"
    "predict   classify the whole scene into a class raster (GeoTIFF/ENVI with\n"
    "          the class table and the scene's georeferencing; ready for hsi\n"
    "          report/map) and optionally a float cube of class probabilities.\n"
    "          The scene is read a tile of rows at a time (only the outputs are\n"
    "          held whole). Pixels that are nodata in every band get 0. On the\n"
    "          CPU, when every layer before [flatten] is position-independent\n"
    "          (valid convolutions, pooling and padding along the bands only,\n"
    "          as in lange2018), those layers run once over tiles of the scene\n"
    "          instead of once per window (dense: 18x fewer FLOPs for lange2018;\n"
    "          the same classes up to float rounding); the last line names the\n"
    "          path taken, and why not dense. Tiles fit --memory. eval takes\n"
    "          rows of tiles with few test pixels window by window.\n"
    "eval      overall and per-class accuracy, average accuracy and kappa of\n"
    "          MODEL on the labelled pixels of LABELS, classified tile by tile as\n"
    "          in predict (tiles without test pixels are not read). Test pixels\n"
    "          that are nodata in every band are counted and not scored.\n"
    "\n"
    "The arguments follow 'hsi svm': the scene CUBE first, -m for the model.\n"
    "\n"
    "Options:\n"
    "  CUBE                   the scene: any GDAL raster or .mat file\n"
    "  --spec SPEC            model spec (train)\n"
    "  -m, --model MODEL      a checkpoint written by train (predict, eval)\n"
    "  --var NAME             .mat variable of the cube (default: automatic)\n"
    "  --bands LIST           1-based bands to use, e.g. 1-103,109-149,164-219\n"
    "                         (train; predict/eval reuse the model's)\n"
    "  --train LABELS         training label raster (train)\n"
    "  --test LABELS          test label raster (eval; with train: evaluated at the end)\n"
    "  -o, --output FILE      MODEL (train) or the class raster (predict)\n"
    "  --prob FILE            predict: also write P(class) per pixel (K float bands)\n"
    "  --csv FILE             eval: also write the per-class table as CSV\n"
    "                         (class,name,pixels,accuracy); '-' for standard output,\n"
    "                         in place of the text\n"
    "  --json FILE            eval: the same as JSON ('-': standard output)\n"
    "  --epochs N             training epochs (default: the spec's); 0 writes the\n"
    "                         initialised net, to start several runs (--resume) or\n"
    "                         another engine from the same weights\n"
    "  --batch N              mini-batch size (default: the spec's; predict/eval 64)\n"
    "  --lr X                 learning rate (default: the spec's)\n"
    "  --seed S               seed of initialisation, shuffles, validation split\n"
    "                         and dropout (default 1)\n"
    "  --preprocess P         none, standardise, minmax, pca:K or pca:FRACTION, fitted\n"
    "                         on the training pixels only (default standardise)\n"
    "  --border MODE          patch pixels outside the scene: mirror (default),\n"
    "                         zero, or skip (edge pixels are neither trained on nor\n"
    "                         predicted)\n"
    "  --validation-split F   hold out this fraction of the training pixels to\n"
    "                         watch for overfitting (default: the spec's, else 0)\n"
    "  --patience N           stop after N epochs without a better validation loss\n"
    "                         and keep the best weights (default: the spec's, else off);\n"
    "                         a run whose epochs end after its best epoch also keeps them\n"
    "  --schedule S           learning-rate schedule (default: the spec's 'schedule',\n"
    "                         else constant), by epoch e:\n"
    "                           constant\n"
    "                           step[:N[:G]]       x G every N epochs (10, 0.1)\n"
    "                           cosine[:MIN]       half cosine from the rate down to\n"
    "                                              MIN (0) over the epochs after warm-up\n"
    "                           plateau[:P[:G[:MIN]]]  x G when the validation loss (or\n"
    "                                              the training loss without one) has\n"
    "                                              not improved for P epochs (5, 0.1),\n"
    "                                              never below MIN (0)\n"
    "                         The epoch log and progress line show the rate in use.\n"
    "  --warmup N             ramp the rate linearly from ~0 over the first N epochs,\n"
    "                         step by step (default: the spec's 'warmup', else 0)\n"
    "  --augment LIST         augment training patches on the fly (default: the spec's\n"
    "                         'augment', else none): a comma list of\n"
    "                           flip        mirror x and/or y (each p = 1/2)\n"
    "                           rotate      0, 90, 180 or 270 degrees\n"
    "                           gain:SD     scale each patch by 1 + SD N(0,1)\n"
    "                           offset:SD   add SD N(0,1) to each patch (in the units\n"
    "                                       of the preprocessed data)\n"
    "                           mix:P       with probability P, blend a patch with\n"
    "                                       another of its class in the batch\n"
    "                                       (weight U(0, 1/2)); the label stays\n"
    "                         or none. Draws come from the seeded RNG of the net (kept\n"
    "                         in MODEL): the same seed gives the same run\n"
    "  --init MODEL           transfer learning: start from MODEL's weights (a model\n"
    "                         trained on another scene). The net is built for this\n"
    "                         scene from --spec (default: MODEL's spec); every layer\n"
    "                         whose shapes match is copied; the head (last dense\n"
    "                         layer) is replaced when the class counts differ.\n"
    "                         Another band count changes the first dense layer's\n"
    "                         input and is refused, naming the layer: select the same\n"
    "                         bands (--bands) or --preprocess pca:K on both scenes.\n"
    "                         Training starts afresh (epoch 0, no optimiser state) with\n"
    "                         the spec's settings and this command's options; the\n"
    "                         preprocessing is fitted on this scene's training pixels\n"
    "  --freeze LAYERS        keep these layers' weights (and optimiser state) fixed:\n"
    "                         names as 'hsi cnn summary' prints them (conv3d_1,\n"
    "                         dense_2), 1-based layer positions or ranges (1-4, 5-),\n"
    "                         all-but-head, or none; kept in MODEL for --resume. A\n"
    "                         frozen batchnorm keeps gamma and beta; its running\n"
    "                         statistics follow this scene's batches. Frozen layers\n"
    "                         are cheaper: their weight gradients are not computed\n"
    "                         (nor reduced over MPI ranks) and the backward pass\n"
    "                         stops at the lowest layer that trains (--freeze 1-8 on\n"
    "                         the Lange net: a step is little more than its forward\n"
    "                         pass)\n"
    "  --class-weights W      none (default) or balanced: weight n/(K n_k) per class\n"
    "                         (as hsi svm's --class-weights, which also takes\n"
    "                         class:weight lists)\n"
    "  --allow-missing-classes\n"
    "                         train although a class (1..K, K from the class tables\n"
    "                         of LABELS and --test) has no training pixels; it is\n"
    "                         never predicted. Default: such a class is an error, as\n"
    "                         in hsi svm\n"
    "  --checkpoint-every N   also write MODEL every N epochs (default 0: at the end)\n"
    "  --memory SIZE          memory budget, e.g. 512M, 2G (default: half the physical\n"
    "                         memory; the net itself comes on top). train reads the\n"
    "                         scene in row blocks and keeps only the patches of the\n"
    "                         training and --test pixels, or the rows within the\n"
    "                         patch radius of them when that is smaller, so the\n"
    "                         scene may be larger than memory; when they cannot fit,\n"
    "                         the error says their size and the budget they need.\n"
    "                         predict and eval hold the class raster (and --prob\n"
    "                         cube) whole and read tiles of rows that fit beside it\n"
    "  --precision P          fp32 (default) or bf16: the convolutions' GEMMs take\n"
    "                         bf16 operands, summed in fp32 (train, predict, eval;\n"
    "                         needs a CPU with AVX512_BF16; weights stay fp32)\n"
    "  --device D             where the net runs (train, predict, eval; default cpu,\n"
    "                         or for train from --spec the spec's 'device'): cpu;\n"
    "                         cuda or cuda:N, the (N-th) NVIDIA GPU through cuDNN and\n"
    "                         cuBLAS (under MPI cuda gives each rank of a node its own\n"
    "                         GPU, round robin); auto, the first GPU when one is\n"
    "                         usable, else the CPU, saying which on stderr (also with\n"
    "                         -q). cuda never falls back: without a GPU, with a\n"
    "                         driver older than the CUDA runtime, a GPU older than\n"
    "                         Turing (sm_75, the oldest CUDA 13 builds for) or an hsi\n"
    "                         built without CUDA it stops with one line saying so.\n"
    "                         Models are device-independent: train on one, predict on\n"
    "                         the other. summary: name the device and its versions\n"
    "  --deterministic        GPU: deterministic cuDNN algorithms picked by heuristics\n"
    "                         (not by timing), so two runs with one seed give\n"
    "                         bit-identical weights (the CPU always does)\n"
    "  --tf32                 GPU: let convolutions and dense layers use TF32 tensor\n"
    "                         cores (10-bit mantissa products; default: full FP32)\n"
    "  --resume MODEL         continue training from a checkpoint (same data)\n"
    "  --global-batch N       train: samples per optimiser step over all MPI ranks\n"
    "                         (default: --batch, else the spec's batch); each rank\n"
    "                         computes N/ranks of them\n"
    "  --lr-scaling RULE      train: linear (default) multiplies the learning rate by\n"
    "                         global batch / batch (Goyal et al. 2017: --batch, or the\n"
    "                         spec's, is the batch the rate was tuned for); none keeps\n"
    "                         it. Combine with the warm-up option for large batches.\n"
    "                         Give both again with --resume (not stored in MODEL)\n"
    "  --bucket-mb X          train under MPI: MiB of gradients per allreduce bucket\n"
    "                         (default 1: the Lange net's dense layers are one bucket,\n"
    "                         reduced while its convolutions run backward)\n"
    "  --no-overlap           train under MPI: reduce the gradients after the backward\n"
    "                         pass instead of during it (for measurements)\n"
    "  --timing               train: print samples/s and the time per step split into\n"
    "                         compute and communication (rank 0's)\n"
    "  --bands-count N        summary: bands when the spec says auto (default 220)\n"
    "  --classes K            summary: classes when the spec says auto (default 16)\n"
    "  --freeze LAYERS        summary: mark these layers frozen (as train's --freeze)\n"
    "  -q, --quiet            no progress output\n"
    "  -h, --help             show this help\n"
    "\n"
    "Environment: OMP_NUM_THREADS sets the threads (default: all cores).\n"
    "HSI_CNN_WINOGRAD=0 runs the spectral convolutions that use Winograd F(4, 5)\n"
    "along the bands (the Lange net's conv2 and conv3; 2.5x fewer multiplies,\n"
    "float32 results within rounding) as direct sgemms instead, for comparisons.\n"
    "HSI_CPU_ISA=avx2 (sse2, avx, avx512) runs hsi as on a CPU of that class.\n"
    "HSI_CNN_RESIDENT=0: on a GPU, gather the training windows on the host and\n"
    "upload them every step, and predict's windows on the host, instead of holding\n"
    "the windows (training) or each tile's rows (predict, eval) on the GPU and\n"
    "gathering there, for comparisons.\n"
    "HSI_CNN_DENSE=0: predict and eval classify window by window even where the\n"
    "dense path applies; HSI_CNN_DENSE=1 takes it wherever the net allows, even\n"
    "for few pixels; HSI_CNN_DENSE_TILE=R or RxC forces its tiles, at most the\n"
    "scene's size, whatever --memory says (comparisons).\n"
    "\n"
    "MPI: under mpirun (or srun) train, predict and eval run on every rank; each\n"
    "rank reads the inputs itself and rank 0 alone prints, writes checkpoints and\n"
    "outputs. Training is synchronous data parallelism: every global batch (same\n"
    "seeded order on every rank) is split into contiguous shards, one per rank; each\n"
    "rank weights its loss by its share of the batch and the gradients are summed\n"
    "with MPI_Iallreduce in buckets of layers, started during the backward pass as\n"
    "soon as a bucket's gradients are final; every rank applies the same update. A\n"
    "net without dropout and batch normalisation trains to the weights one process\n"
    "gets, to float rounding (the sums run in another order; the test suite allows\n"
    "1e-5 of the largest weight after a few epochs, about 1e-7 is seen). Dropout\n"
    "masks differ (one stream per rank), and batch normalisation uses each rank's\n"
    "shard statistics, its running averages averaged over the ranks after each\n"
    "epoch: such nets give other, equally valid weights on other rank counts (the\n"
    "same on every run with the same ranks and seed). Validation is scored in\n"
    "shares over the ranks. --resume works on any rank count. predict and eval\n"
    "give each rank whole batches of the pixels (dense: whole rows of tiles,\n"
    "whose size does not depend on the ranks) and rank 0 gathers them: the\n"
    "output is bit-identical to one process's. One rank's failure (unreadable\n"
    "file, out of memory) stops all, with its message naming the rank. Cluster\n"
    "job scripts: tools/jobs/ (see README.md).\n"
    "\n"
    "Examples:\n"
    "  hsi cnn summary cnn3d/specs/lange2018.cfg --bands-count 200\n"
    "  hsi cnn train ip.tif --spec cnn3d/specs/lange2018.cfg --train train.tif \\\n"
    "      --test test.tif --epochs 30 -o lange.ckpt\n"
    "  hsi cnn predict ip.tif -m lange.ckpt -o classes.tif --prob probs.tif\n"
    "  hsi cnn eval ip.tif -m lange.ckpt --test test.tif\n"
    "  mpirun -np 8 hsi cnn train ip.tif --spec cnn3d/specs/lange2018.cfg \\\n"
    "      --train train.tif --global-batch 400 --checkpoint-every 1 -o lange.ckpt\n"
    "  hsi cnn train b.tif --init lange.ckpt --freeze 1-8 --train b_train.tif \\\n"
    "      --schedule cosine --warmup 2 --augment flip,rotate,gain:0.05 -o b.ckpt\n"
    "  hsi report --truth gt.tif --pred classes.tif --train train.tif\n"
    "\n"
    "Exit status: 0 on success, 1 on a read, write, data or training error, 2 on a\n"
    "usage error.\n";

static const char *name = "cnn";

/* ---------------------------------------------------------------- patch gather */

/* The training and test samples: pixels of the (preprocessed) rows kept. */
typedef struct scene_data {
    const hsi_patch_rows *cube;
    const hsi_pixel *pixels;
    int radius;
    hsi_border_mode border;
} scene_data;

static hsi_status gather_scene(void *ctx, const size_t *idx, size_t n, float *x)
{
    const scene_data *d = ctx;
    hsi_pixel *px = malloc(n * sizeof *px);
    if (!px) return hsi_error(HSI_ERR_NOMEM, "out of memory gathering patches");
    for (size_t i = 0; i < n; i++) px[i] = d->pixels[idx[i]];
    hsi_status st = hsi_patch_rows_gather(d->cube, px, n, d->border, x);
    free(px);
    return st;
}

/* ---------------------------------------------------------------- helpers */

static int radius_of(const hsi_cnn_spec *spec, int *radius)
{
    if (spec->in_w != spec->in_h || spec->in_w % 2 == 0) {
        cli_error(name, "%s: input x and y must be equal and odd (a centred patch), not %d x %d",
                  spec->path, spec->in_w, spec->in_h);
        return -1;
    }
    *radius = (spec->in_w - 1) / 2;
    return 0;
}

/* Labelled pixels of `labels` usable with this border mode. */
static hsi_status labelled_pixels(const hsi_cube *cube, const hsi_labels *labels, int radius,
                                  hsi_border_mode border, hsi_pixel **px, int32_t **cls,
                                  size_t *n)
{
    size_t count = 0;
    for (size_t i = 0; i < labels->rows * labels->cols; i++) count += labels->data[i] != 0;
    *px = malloc((count + 1) * sizeof **px);
    *cls = malloc((count + 1) * sizeof **cls);
    if (!*px || !*cls) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t r = 0; r < labels->rows; r++)
        for (size_t c = 0; c < labels->cols; c++) {
            uint16_t v = labels->data[r * labels->cols + c];
            if (!v) continue;
            if (border == HSI_BORDER_SKIP && !hsi_patch_inside(cube, r, c, radius)) continue;
            (*px)[k] = (hsi_pixel){(uint32_t)r, (uint32_t)c};
            (*cls)[k] = (int32_t)v - 1;
            k++;
        }
    *n = k;
    return HSI_OK;
}

static void print_epoch(void *ctx, const hsi_cnn_epoch_stats *s)
{
    int quiet = *(int *)ctx;
    if (quiet) return;
    printf("Epoch %d/%d - %.2fs - loss: %.4f - accuracy: %.4f", s->epoch, s->epochs, s->seconds,
           s->loss, s->accuracy);
    if (!isnan(s->val_loss))
        printf(" - val_loss: %.4f - val_accuracy: %.4f%s", s->val_loss, s->val_accuracy,
               s->improved ? " *" : "");
    printf(" - lr: %.4g\n", s->lr);
    fflush(stdout);
}

/* On a GPU, where the training windows are (hsi_cnn_train's decision). */
static void print_resident(void *ctx, const hsi_cnn_net *net, const char *why, size_t train_bytes,
                           size_t val_bytes)
{
    if (*(int *)ctx || !net->be->device) return;
    if (!why)
        printf("Training windows held on the GPU (%.1f MiB%s): a step sends only its indices\n",
               (train_bytes + val_bytes) / 1048576.0, val_bytes ? " with the validation windows" : "");
    else
        printf("Training windows gathered on the host and uploaded every step: %s\n", why);
    fflush(stdout);
}

/* Accuracy figures of predictions against truth (both 0-based, k classes):
 * fmt 0 text, 1 CSV (class,name,pixels,accuracy; then the overall rows), 2 JSON. */
static void write_accuracy(FILE *fp, int fmt, const int32_t *pred, const int32_t *truth, size_t n,
                           int k, const hsi_class_info *classes)
{
    size_t *conf = calloc((size_t)k * k, sizeof *conf);
    if (!conf) return;
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        conf[(size_t)truth[i] * k + pred[i]]++;
        hits += pred[i] == truth[i];
    }
    double oa = n ? (double)hits / n : 0, aa = 0, pe = 0;
    int present = 0;
    if (fmt == 0) fprintf(fp, "%-4s %-32s %8s %8s\n", "id", "class", "pixels", "accuracy");
    else if (fmt == 1) fputs("class,name,pixels,accuracy\n", fp);
    else fputs("{\"classes\": [", fp);
    for (int c = 0; c < k; c++) {
        size_t row = 0, col = 0;
        for (int j = 0; j < k; j++) row += conf[(size_t)c * k + j], col += conf[(size_t)j * k + c];
        pe += (double)row * col;
        if (!row) continue;
        double acc = (double)conf[(size_t)c * k + c] / row;
        aa += acc;
        const char *cname = classes ? classes[c + 1].name : "";
        if (fmt == 0) {
            fprintf(fp, "%-4d %-32s %8zu %8.4f\n", c + 1, cname, row, acc);
        } else if (fmt == 1) {
            fprintf(fp, "%d,", c + 1);
            if (strpbrk(cname, ",\"\n")) {
                fputc('"', fp);
                for (const char *q = cname; *q; q++) fprintf(fp, *q == '"' ? "\"\"" : "%c", *q);
                fputc('"', fp);
            } else {
                fputs(cname, fp);
            }
            fprintf(fp, ",%zu,%.10g\n", row, acc);
        } else {
            fprintf(fp, "%s\n  {\"class\": %d, \"name\": ", present ? "," : "", c + 1);
            cli_json_string(fp, cname);
            fprintf(fp, ", \"pixels\": %zu, \"accuracy\": %.17g}", row, acc);
        }
        present++;
    }
    pe /= (double)n * n;
    double aam = present ? aa / present : 0, kappa = pe < 1 ? (oa - pe) / (1 - pe) : 0;
    if (fmt == 0)
        fprintf(fp, "overall_accuracy=%.4f average_accuracy=%.4f kappa=%.4f pixels=%zu\n", oa, aam,
                kappa, n);
    else if (fmt == 1)
        fprintf(fp, "overall_accuracy,,%zu,%.10g\naverage_accuracy,,%zu,%.10g\nkappa,,%zu,%.10g\n", n,
                oa, n, aam, n, kappa);
    else
        fprintf(fp, "],\n \"overall_accuracy\": %.17g, \"average_accuracy\": %.17g, \"kappa\": %.17g, "
                "\"pixels\": %zu}\n", oa, aam, kappa, n);
    free(conf);
}

static void print_accuracy(const int32_t *pred, const int32_t *truth, size_t n, int k,
                           const hsi_class_info *classes)
{
    write_accuracy(stdout, 0, pred, truth, n, k, classes);
}

/* The scene's size, without reading its pixels. */
static hsi_status scene_shape(const char *path, const hsi_read_options *ro, size_t *rows,
                              size_t *cols, size_t *bands)
{
    hsi_cube_reader *rd;
    hsi_status st = hsi_cube_reader_open(path, ro, &rd);
    if (st) return st;
    hsi_cube_reader_shape(rd, rows, cols, bands);
    hsi_cube_reader_close(rd);
    return HSI_OK;
}

/* ---------------------------------------------------------------- summary */

/* --device's value: 0, or a usage error (exit 2). */
static int check_device(const char *arg)
{
    if (hsi_cnn_device_name_ok(arg)) return 0;
    return cli_usage_error(name, "--device: '%s' is not cpu, cuda, cuda:N or auto", arg);
}

/* summary's last line: the device the net would run on, with the GPU and
 * the cuDNN and cuBLAS versions (opened, so that an unusable one is an
 * error before any output). */
static hsi_status device_line(const char *dev, char *line, size_t len)
{
    const hsi_cnn_backend *be;
    hsi_cnn_device_options o = {0, 0};
    char note[640], d[512];
    hsi_status st = hsi_cnn_device_open(dev, &o, &be, note, sizeof note);
    if (st) return st;
    hsi_cnn_device_describe(be, d, sizeof d);
    snprintf(line, len, "Device: %s%s\n", d,
             be->device ? ""
             : !strcmp(dev, "auto") ? " (no usable GPU: --device auto runs on the CPU)"
             : hsi_have_cuda() ? " (GPU backend built in: --device cuda)"
                               : " (built without CUDA: no GPU backend)");
    hsi_cnn_device_close(be);
    return HSI_OK;
}

static int run_summary(int argc, char **argv)
{
    static const struct option longopts[] = {{"bands-count", required_argument, NULL, 'b'},
                                             {"bands-auto", required_argument, NULL, 'b'}, /* hidden alias */
                                             {"bands", required_argument, NULL, 'L'},
                                             {"classes", required_argument, NULL, 'k'},
                                             {"freeze", required_argument, NULL, 'F'},
                                             {"device", required_argument, NULL, 1006},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    long bands = 220, classes = 16;
    const char *freeze = NULL, *device = NULL;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("qh"), longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (cli_parse_long(name, "--bands-count", optarg, 1, 100000, &bands)) return 2;
            break;
        case 'L':
            return cli_usage_error(name, "summary: --bands is a band list elsewhere; give the band "
                                         "count with --bands-count N");
        case 'k':
            if (cli_parse_long(name, "--classes", optarg, 2, 65535, &classes)) return 2;
            break;
        case 'F': freeze = optarg; break;
        case 1006:
            if (check_device(optarg)) return 2;
            device = optarg;
            break;
        case 'q': break;
        case 'h': fputs(usage, stdout); return 0;
        case ':':
        default: return cli_getopt_error(name, "summary", c, argv);
        }
    }
    if (optind != argc - 1) return cli_usage_error(name, "summary takes one SPEC file");
    hsi_cnn_spec *spec;
    hsi_status st = hsi_cnn_spec_load(argv[optind], &spec);
    if (st) return cli_fail(name, st);
    int radius;
    if (radius_of(spec, &radius)) { /* as train: a centred patch needs an odd side */
        hsi_cnn_spec_free(spec);
        return 1;
    }
    char *text;
    uint8_t *frozen = freeze ? calloc((size_t)spec->n_layers, 1) : NULL;
    if (freeze && !frozen) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
    else if (freeze && (st = hsi_cnn_freeze_parse(freeze, spec->layers, spec->n_layers, frozen))) {
        hsi_cnn_spec_free(spec);
        free(frozen);
        return cli_usage_error(name, "%s", hsi_last_error());
    }
    if (!st)
        st = hsi_cnn_summary_frozen(spec, spec->in_bands ? 0 : (int)bands,
                                    spec->classes ? 0 : (int)classes, frozen, &text);
    free(frozen);
    char line[768] = "";
    if (!st) {
        const char *dev = device ? device : spec->device[0] ? spec->device : "cpu";
        if ((st = device_line(dev, line, sizeof line))) {
            if (device) {
                free(text); /* --device names one that is not usable: an error */
            } else { /* the spec's: the summary still describes it */
                snprintf(line, sizeof line, "Device: %s (the spec's; not usable here: %s)\n", dev,
                         hsi_last_error());
                st = HSI_OK;
            }
        }
    }
    hsi_cnn_spec_free(spec);
    if (st) return cli_fail(name, st);
    fputs(text, stdout);
    fputs(line, stdout);
    free(text);
    return 0;
}

/* ---------------------------------------------------------------- train */

/* --timing: where rank 0's steps went (bench/cnn_scaling.sh reads this line). */
static void print_timing(const hsi_cnn_dist *dist, double seconds)
{
    hsi_cnn_dist_timing t;
    hsi_cnn_dist_get_timing(dist, &t);
    double steps = t.steps ? (double)t.steps : 1;
    printf("timing: ranks %d steps %llu samples %llu wall_s %.3f samples_per_s %.1f "
           "step_ms %.3f compute_ms %.3f comm_ms %.3f wait_ms %.3f allreduce_bytes %zu "
           "buckets %d\n",
           t.ranks, (unsigned long long)t.steps, (unsigned long long)t.samples, seconds,
           seconds > 0 ? t.samples / seconds : 0, 1e3 * t.step_s / steps,
           1e3 * t.compute_s / steps, 1e3 * t.comm_s / steps, 1e3 * t.wait_s / steps,
           t.bytes_per_step, t.buckets);
}

typedef struct train_args {
    const char *spec, *cube, *var, *bands, *train, *test, *output, *resume, *preprocess;
    const char *init, *freeze, *schedule, *augment; /* transfer learning, schedule, augmentation */
    const char *device;   /* --device (NULL: the spec's, else cpu) */
    int deterministic, tf32;
    long warmup;
    long epochs, batch, patience, checkpoint_every, global_batch;
    double lr, validation_split, bucket_mb;
    int lr_scaling, no_overlap, timing;
    uint64_t seed;
    hsi_border_mode border;
    int balanced, quiet, allow_missing;
    hsi_cnn_precision precision;
    size_t memory; /* --memory */
} train_args;

/* --precision: 0 and *p set, or a usage error (exit 2). */
static int parse_precision(const char *arg, hsi_cnn_precision *p)
{
    if (!strcmp(arg, "fp32")) *p = HSI_CNN_FP32;
    else if (!strcmp(arg, "bf16")) *p = HSI_CNN_BF16;
    else return cli_usage_error(name, "--precision: '%s' is not fp32 or bf16", arg);
    return 0;
}

/* --device, else the spec's: the backend (cnn3d/device.h); the device taken
 * goes to stderr (auto's choice, and its reason on the CPU, even with -q). */
static hsi_status open_device(const char *dev, int deterministic, int tf32, int quiet,
                              const hsi_cnn_backend **be)
{
    hsi_cnn_device_options o = {deterministic, tf32};
    char note[640];
    hsi_status st = hsi_cnn_device_open(dev, &o, be, note, sizeof note);
    if (!st && note[0] && (!quiet || !strcmp(dev, "auto"))) fprintf(stderr, "hsi %s: %s\n", name, note);
    return st;
}

static int run_train(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"spec", required_argument, NULL, 'S'},      {"var", required_argument, NULL, 'v'},       {"bands", required_argument, NULL, 'b'},
        {"train", required_argument, NULL, 't'},     {"test", required_argument, NULL, 'T'},
        {"output", required_argument, NULL, 'o'},   {"epochs", required_argument, NULL, 'e'},
        {"batch", required_argument, NULL, 'B'},     {"lr", required_argument, NULL, 'l'},
        {"seed", required_argument, NULL, 's'},      {"preprocess", required_argument, NULL, 'p'},
        {"border", required_argument, NULL, 'm'},    {"validation-split", required_argument, NULL, 'V'},
        {"patience", required_argument, NULL, 'P'},  {"class-weights", required_argument, NULL, 'w'},
        {"checkpoint-every", required_argument, NULL, 'C'}, {"resume", required_argument, NULL, 'r'},
        {"allow-missing-classes", no_argument, NULL, 'A'}, {"precision", required_argument, NULL, 'X'},
        {"global-batch", required_argument, NULL, 'G'}, {"lr-scaling", required_argument, NULL, 'L'},
        {"bucket-mb", required_argument, NULL, 'K'}, {"no-overlap", no_argument, NULL, 'O'},
        {"timing", no_argument, NULL, 'Z'}, {"memory", required_argument, NULL, 'M'},
        {"init", required_argument, NULL, 1001},     {"freeze", required_argument, NULL, 1002},
        {"schedule", required_argument, NULL, 1003}, {"warmup", required_argument, NULL, 1004},
        {"augment", required_argument, NULL, 1005},
        {"device", required_argument, NULL, 1006},  {"deterministic", no_argument, NULL, 1007},
        {"tf32", no_argument, NULL, 1008},
        {"quiet", no_argument, NULL, 'q'},           {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    train_args a = {.lr_scaling = 1, .bucket_mb = 1, .epochs = -1, .batch = -1, .patience = -1,
                    .lr = -1, .validation_split = -1, .warmup = -1,
                    .seed = 1, .border = HSI_BORDER_MIRROR, .preprocess = "standardise"};
    int c, seed_given = 0, border_given = 0;
    a.memory = hsi_memory_default();
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("o:qh"), longopts, NULL)) != -1) {
        switch (c) {
        case 'S': a.spec = optarg; break;
        case 'v': a.var = optarg; break;
        case 'b':
            if (cli_check_bands(name, "--bands", optarg)) return 2;
            a.bands = optarg;
            break;
        case 't': a.train = optarg; break;
        case 'T': a.test = optarg; break;
        case 'o': a.output = optarg; break;
        case 'r': a.resume = optarg; break;
        case 'p': a.preprocess = optarg; break;
        case 'X':
            if (parse_precision(optarg, &a.precision)) return 2;
            break;
        case 'e':
            if (cli_parse_long(name, "--epochs", optarg, 0, 100000000, &a.epochs)) return 2;
            break;
        case 'B':
            if (cli_parse_long(name, "--batch", optarg, 1, 100000, &a.batch)) return 2;
            break;
        case 'P':
            if (cli_parse_long(name, "--patience", optarg, 0, 1000000, &a.patience)) return 2;
            break;
        case 'C':
            if (cli_parse_long(name, "--checkpoint-every", optarg, 0, 100000000, &a.checkpoint_every))
                return 2;
            break;
        case 'l':
            if (cli_parse_double(name, "--lr", optarg, 1e-12, 1e6, &a.lr)) return 2;
            break;
        case 'V':
            if (cli_parse_double(name, "--validation-split", optarg, 0, 0.9, &a.validation_split))
                return 2;
            break;
        case 's':
            if (cli_parse_u64(name, "--seed", optarg, &a.seed)) return 2;
            seed_given = 1;
            break;
        case 'm':
            if (hsi_border_mode_parse(optarg, &a.border))
                return cli_usage_error(name, "--border: %s", hsi_last_error());
            border_given = 1;
            break;
        case 'w':
            if (!strcmp(optarg, "balanced")) a.balanced = 1;
            else if (!strcmp(optarg, "none")) a.balanced = 0;
            else return cli_usage_error(name, "--class-weights: '%s' is not none or balanced "
                                              "(class:weight lists are for hsi svm)", optarg);
            break;
        case 'A': a.allow_missing = 1; break;
        case 'G':
            if (cli_parse_long(name, "--global-batch", optarg, 1, 10000000, &a.global_batch))
                return 2;
            break;
        case 'L':
            if (!strcmp(optarg, "linear")) a.lr_scaling = 1;
            else if (!strcmp(optarg, "none")) a.lr_scaling = 0;
            else return cli_usage_error(name, "--lr-scaling: '%s' is not linear or none", optarg);
            break;
        case 'K':
            if (cli_parse_double(name, "--bucket-mb", optarg, 1e-6, 1e6, &a.bucket_mb)) return 2;
            break;
        case 'O': a.no_overlap = 1; break;
        case 'Z': a.timing = 1; break;
        case 'M':
            if (cli_parse_memory(name, optarg, &a.memory)) return 2;
            break;
        case 1001: a.init = optarg; break;
        case 1002: a.freeze = optarg; break;
        case 1003: {
            hsi_cnn_schedule check = {0};
            if (hsi_cnn_schedule_parse(optarg, "--schedule", &check))
                return cli_usage_error(name, "%s", hsi_last_error());
            a.schedule = optarg;
            break;
        }
        case 1004:
            if (cli_parse_long(name, "--warmup", optarg, 0, 100000000, &a.warmup)) return 2;
            break;
        case 1005: {
            hsi_cnn_augment check;
            if (hsi_cnn_augment_parse(optarg, "--augment", &check))
                return cli_usage_error(name, "%s", hsi_last_error());
            a.augment = optarg;
            break;
        }
        case 1006:
            if (check_device(optarg)) return 2;
            a.device = optarg;
            break;
        case 1007: a.deterministic = 1; break;
        case 1008: a.tf32 = 1; break;
        case 'q': a.quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case ':':
        default: return cli_getopt_error(name, "train", c, argv);
        }
    }
    if (optind != argc - 1) return cli_usage_error(name, "train takes one CUBE");
    a.cube = argv[optind];
    if (!a.spec && !a.resume && !a.init)
        return cli_usage_error(name, "train needs --spec SPEC (or --resume MODEL, or --init MODEL)");
    if (!a.train) return cli_usage_error(name, "train needs --train LABELS");
    if (!a.output) return cli_usage_error(name, "train needs -o MODEL");
    if (a.init && a.resume)
        return cli_usage_error(name, "--init starts a new training run from a model's weights, "
                                     "--resume continues one: give one of them");
    hsi_preprocess_kind pre_kind;
    size_t pca_k = 0;
    double pca_fraction = 0;
    if (hsi_preprocess_parse(a.preprocess, &pre_kind, &pca_k, &pca_fraction))
        return cli_usage_error(name, "--preprocess: %s", hsi_last_error());

    int rc = 1;
    hsi_status st = HSI_OK;
    hsi_cnn_spec *spec = NULL;
    hsi_cnn_net *net = NULL;
    hsi_cnn_meta meta = {0}, resumed = {0};
    hsi_patch_rows *cube = NULL; /* the rows the patches need, preprocessed */
    size_t rows = 0, cols = 0, bands = 0;
    hsi_read_options ro = {0};
    hsi_labels *train = NULL, *test = NULL;
    hsi_pixel *px = NULL, *test_px = NULL;
    int32_t *cls = NULL, *test_cls = NULL, *pred = NULL, *train_lab = NULL, *val_lab = NULL;
    hsi_pixel *train_px = NULL, *val_px = NULL;
    size_t *order = NULL;
    float *weights = NULL;
    size_t n = 0, n_test = 0;
    hsi_cnn_dist *dist = NULL;
    int rank, ranks;
    hsi_mpi_layout(&rank, &ranks);
    /* The net is built for one rank's share of the global batch. */
    long global_want = a.global_batch > 0 ? a.global_batch : a.batch;
    int shard_want = global_want > 0 ? (int)((global_want + ranks - 1) / ranks) : 0;
    hsi_cnn_net *source = NULL; /* --init */
    uint8_t *frozen = NULL;
    const hsi_cnn_backend *be = NULL; /* --device */

    /* A new net from --spec may name its device; --resume and --init take
     * --device (default cpu): the model's file is device-independent. */
    if (!a.device && a.spec && !a.resume && !a.init) {
        hsi_cnn_spec *peek;
        if ((st = hsi_cnn_spec_load(a.spec, &peek))) goto fail;
        static char spec_device[16];
        snprintf(spec_device, sizeof spec_device, "%s", peek->device);
        hsi_cnn_spec_free(peek);
        a.device = spec_device;
    }
    if (!a.device || !*a.device) a.device = "cpu";
    if ((st = open_device(a.device, a.deterministic, a.tf32, a.quiet, &be))) goto fail;

    if (a.resume) {
        if ((st = hsi_cnn_checkpoint_read(a.resume, 1, shard_want, be, &net, &resumed))) goto fail;
        if (a.spec) {
            hsi_cnn_spec *given;
            if ((st = hsi_cnn_spec_load(a.spec, &given))) goto fail;
            int same = strcmp(given->text, net->spec->text) == 0;
            hsi_cnn_spec_free(given);
            if (!same) {
                cli_error(name, "%s: the spec differs from the one in %s", a.spec, a.resume);
                goto out;
            }
        }
        if (a.bands && strcmp(a.bands, resumed.bands)) {
            cli_error(name, "--bands differs from the bands %s was trained on", a.resume);
            goto out;
        }
        a.bands = resumed.bands;
        /* The validation split and pixel order come from the original seed. */
        if (seed_given && a.seed != resumed.seed) {
            cli_error(name, "--seed %llu differs from the seed %llu of %s",
                      (unsigned long long)a.seed, (unsigned long long)resumed.seed, a.resume);
            goto out;
        }
        a.seed = resumed.seed;
        if (border_given && (int)a.border != resumed.border) {
            cli_error(name, "--border differs from the border mode of %s", a.resume);
            goto out;
        }
        a.border = (hsi_border_mode)resumed.border;
    } else if (a.init) {
        /* Transfer learning: the new net is built for this scene (its own
         * spec, or the model's), then takes the model's weights (transfer.c). */
        if ((st = hsi_cnn_checkpoint_read(a.init, 0, 1, NULL, &source, NULL))) goto fail;
        st = a.spec ? hsi_cnn_spec_load(a.spec, &spec)
                    : hsi_cnn_spec_parse(source->spec->text, a.init, &spec);
        if (st) goto fail;
    } else if ((st = hsi_cnn_spec_load(a.spec, &spec))) {
        goto fail;
    }
    const hsi_cnn_spec *sp = net ? net->spec : spec;
    int radius;
    if (radius_of(sp, &radius)) goto out;
    ro.var = a.var;
    ro.bands = a.bands && *a.bands ? a.bands : NULL;
    if ((st = scene_shape(a.cube, &ro, &rows, &cols, &bands))) goto fail;
    if ((st = hsi_labels_read_for(a.train, NULL, rows, cols, &train))) goto fail;
    if (a.test && (st = hsi_labels_read_for(a.test, NULL, rows, cols, &test))) goto fail;
    /* Every input is read (and registered): refuse an -o that would replace
     * one, or a device, now rather than after training. */
    if (a.output && (st = hsi_cnn_checkpoint_check_output(a.output))) goto fail;
    int classes = hsi_labels_max(train);
    if (test && hsi_labels_max(test) > classes) classes = hsi_labels_max(test);
    if (train->n_classes > classes) classes = train->n_classes;
    if (test && test->n_classes > classes) classes = test->n_classes; /* its category table */
    int train_table = train->n_classes;
    if (classes < 2) {
        cli_error(name, "%s: fewer than two classes labelled", a.train);
        goto out;
    }
    {
        /* A class without training pixels: refused unless asked for, as in hsi svm. */
        size_t *count = calloc((size_t)classes + 1, sizeof *count);
        if (!count) {
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < train->rows * train->cols; i++)
            if (train->data[i] <= classes) count[train->data[i]]++;
        int missing = 0, first = 0;
        for (int k = 1; k <= classes; k++)
            if (!count[k] && !missing++) first = k;
        free(count);
        if (missing && !a.allow_missing) {
            const char *cn = first <= train->n_classes ? train->classes[first].name : "";
            cli_error(name,
                      "%s: class %d%s%s%s has no training pixels (a spatially disjoint split can "
                      "leave a small class out; --allow-missing-classes trains without it)",
                      a.train, first, *cn ? " (" : "", cn, *cn ? ")" : "");
            goto out;
        }
        if (missing)
            fprintf(stderr, "hsi %s: warning: %s: %d of %d classes have no training pixels and will "
                            "never be predicted\n",
                    name, a.train, missing, classes);
    }
    /* Preprocessing: fitted on the training pixels only (or the model's). */
    if (net) {
        meta.preprocess = resumed.preprocess;
        resumed.preprocess = NULL;
        if (net->classes != classes) {
            cli_error(name, "%s: %d classes, but %s was trained with %d", a.train, classes,
                      a.resume, net->classes);
            goto out;
        }
    } else if (pre_kind != HSI_PREPROCESS_NONE) {
        /* On the training spectra, gathered in row blocks within --memory. */
        if ((st = hsi_preprocess_fit_labels_file(pre_kind, a.cube, &ro, train, a.train, pca_k,
                                                 pca_fraction, a.memory, &meta.preprocess)))
            goto fail;
    }
    if (meta.preprocess && meta.preprocess->in_dim != bands) {
        cli_error(name, "%s: %zu bands, the model's preprocessing expects %zu", a.cube, bands,
                  meta.preprocess->in_dim);
        goto out;
    }
    {
        /* Only the rows the training and test patches need, read in row
         * blocks and preprocessed (features/patch_rows.h). */
        const hsi_labels *masks[2] = {train, test};
        if ((st = hsi_patch_rows_load(a.cube, &ro, meta.preprocess, masks, 2, radius, a.border,
                                      HSI_PATCH_STORE_AUTO, a.memory, "the training and test pixels",
                                      &cube)))
            goto fail;
    }
    if (!net) {
        hsi_cnn_net_options o = {.bands = (int)cube->shape.bands, .classes = classes,
                                 .max_batch = shard_want > 0 ? shard_want : spec->batch,
                                 .training = 1, .seed = a.seed, .backend = be};
        if ((st = hsi_cnn_net_new(spec, &o, &net))) goto fail;
        if (source) {
            char *report = NULL;
            if ((st = hsi_cnn_transfer(net, source, a.init, &report))) goto fail;
            if (!a.quiet) printf("Weights from %s:\n%s", a.init, report ? report : "");
            free(report);
        }
    } else if (net->input.d != (int)cube->shape.bands) {
        cli_error(name, "%s: %zu bands after preprocessing, %s expects %d", a.cube, cube->shape.bands,
                  a.resume, net->input.d);
        goto out;
    }
    if ((st = hsi_cnn_net_set_precision(net, a.precision))) goto fail;
    if (a.lr > 0) net->spec->learning_rate = a.lr;
    /* Command-line schedule, warm-up and augmentation replace the spec's
     * (checkpoints keep them, so --resume continues with them). */
    if (a.schedule && (st = hsi_cnn_schedule_parse(a.schedule, "--schedule", &net->spec->schedule)))
        goto fail;
    if (a.warmup >= 0) net->spec->schedule.warmup = (int)a.warmup;
    if (a.augment && (st = hsi_cnn_augment_parse(a.augment, "--augment", &net->spec->augment)))
        goto fail;
    if (a.augment && net->spec->augment.rotate && net->input.h != net->input.w) {
        cli_error(name, "--augment rotate needs a square patch");
        goto out;
    }
    if (a.freeze) {
        if (!(frozen = calloc((size_t)net->n_layers, 1))) {
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if ((st = hsi_cnn_freeze_parse(a.freeze, net->spec->layers, net->n_layers, frozen)) ||
            (st = hsi_cnn_net_set_frozen(net, frozen)))
            goto fail;
    }
    long epochs = a.epochs >= 0 ? a.epochs : net->spec->epochs;
    net->spec->epochs = (int)epochs; /* the cosine schedule's horizon */
    double vsplit = a.validation_split >= 0 ? a.validation_split : net->spec->validation_split;
    long patience = a.patience >= 0 ? a.patience : net->spec->patience;
    int batch = a.batch > 0 ? (int)a.batch : net->spec->batch;
    if (ranks == 1 && a.global_batch <= 0 && batch > net->max_batch) batch = net->max_batch;
    /* Global batch and the linear scaling rule (batch = the rate's own batch). */
    int global = a.global_batch > 0 ? (int)a.global_batch : batch;
    if (a.lr_scaling) net->lr_scale = (double)global / batch;
    if (ranks > 1 || a.timing) {
        hsi_cnn_dist_options dopt = {(size_t)(a.bucket_mb * 1048576.0), a.no_overlap};
        if ((st = hsi_cnn_dist_new(net, &dopt, &dist))) goto fail;
    }

    meta.radius = radius;
    meta.border = a.border;
    meta.seed = a.seed;
    snprintf(meta.bands, sizeof meta.bands, "%s", a.bands ? a.bands : "");
    meta.n_classes = classes;
    if ((st = hsi_labels_set_class_count(train, classes))) goto fail;
    /* Classes only the test raster's table has keep its names and colours. */
    for (int k = train_table + 1; test && k <= classes && k <= test->n_classes; k++)
        train->classes[k] = test->classes[k];
    meta.classes = malloc((classes + 1) * sizeof *meta.classes);
    if (!meta.classes) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        goto fail;
    }
    memcpy(meta.classes, train->classes, (classes + 1) * sizeof *meta.classes);

    if ((st = labelled_pixels(&cube->shape, train, radius, a.border, &px, &cls, &n))) goto fail;
    if (n == 0) {
        cli_error(name, "%s: no labelled pixels to train on", a.train);
        goto out;
    }
    /* Validation split: a seeded shuffle of the training pixels. */
    order = malloc(n * sizeof *order);
    train_px = malloc(n * sizeof *train_px), val_px = malloc(n * sizeof *val_px);
    train_lab = malloc(n * sizeof *train_lab), val_lab = malloc(n * sizeof *val_lab);
    weights = calloc(classes, sizeof *weights);
    if (!order || !train_px || !val_px || !train_lab || !val_lab || !weights) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) order[i] = i;
    hsi_rng split_rng;
    hsi_rng_seed(&split_rng, a.seed ^ 0x5eed5eedull);
    hsi_rng_shuffle(&split_rng, order, n);
    size_t n_val = (size_t)floor(vsplit * n), n_tr = n - n_val;
    for (size_t i = 0; i < n_tr; i++) train_px[i] = px[order[i]], train_lab[i] = cls[order[i]];
    for (size_t i = 0; i < n_val; i++) val_px[i] = px[order[n_tr + i]], val_lab[i] = cls[order[n_tr + i]];
    if (a.balanced) {
        size_t *count = calloc(classes, sizeof *count);
        if (!count) {
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            goto fail;
        }
        int present = 0;
        for (size_t i = 0; i < n_tr; i++) count[train_lab[i]]++;
        for (int k = 0; k < classes; k++) present += count[k] > 0;
        for (int k = 0; k < classes; k++)
            weights[k] = count[k] ? (float)((double)n_tr / ((double)present * count[k])) : 0.0f;
        free(count);
    }
    scene_data train_ctx = {cube, train_px, radius, a.border};
    scene_data val_ctx = {cube, val_px, radius, a.border};
    hsi_cnn_dataset train_set = {n_tr, train_lab, gather_scene, &train_ctx};
    hsi_cnn_dataset val_set = {n_val, val_lab, gather_scene, &val_ctx};
    if (!a.quiet && epochs > net->epoch)
        printf("Training %s on %zu pixels (%zu held out for validation), %d classes, patch %dx%dx%zu, "
               "batch %d%s, epochs %d..%ld\n",
               net->spec->path, n_tr, n_val, classes, 2 * radius + 1, 2 * radius + 1, cube->shape.bands,
               global, ranks > 1 ? " over the MPI ranks" : "", net->epoch + 1, epochs);
    if (!a.quiet && ranks > 1 && epochs > net->epoch)
        printf("%d MPI ranks, %d to %d samples each per step, learning rate x %g\n", ranks,
               global / ranks, (global + ranks - 1) / ranks, net->lr_scale);
    if (!a.quiet && epochs > net->epoch) {
        char sched[96], aug[96];
        hsi_cnn_schedule_format(&net->spec->schedule, sched, sizeof sched);
        hsi_cnn_augment_format(&net->spec->augment, aug, sizeof aug);
        printf("Learning rate %g, schedule %s; augmentation %s\n", net->spec->learning_rate, sched,
               aug);
        if (net->frozen) {
            printf("Frozen:");
            for (int i = 0; i < net->n_layers; i++)
                if (net->frozen[i]) {
                    char ln[48];
                    hsi_cnn_layer_name(net->spec->layers, i, ln, sizeof ln);
                    printf(" %s", ln);
                }
            printf(" (%zu of %zu parameters trainable)\n", hsi_cnn_trainable_params(net),
                   net->n_params);
        }
    }
    if (!a.quiet && epochs <= net->epoch)
        printf("No epochs to train (the net is at epoch %d of %ld): writing it as it is\n",
               net->epoch, epochs);
    cli_progress prog;
    cli_progress_init(&prog, "hsi cnn train", a.quiet);
    if (!isatty(2)) prog.quiet = 1;
    hsi_cnn_train_options to = {.epochs = (int)epochs, .batch = global, .dist = dist,
                                .class_weights = a.balanced ? weights : NULL,
                                .patience = (int)patience, .checkpoint_path = a.output,
                                .checkpoint_every = (int)a.checkpoint_every, .meta = &meta,
                                .progress = cli_progress_callback(&prog),
                                .epoch_end = print_epoch, .resident_chosen = print_resident,
                                .epoch_ctx = &a.quiet};
    double t_train = cli_now();
    st = hsi_cnn_train(net, &train_set, n_val ? &val_set : NULL, &to);
    t_train = cli_now() - t_train;
    cli_progress_finish(&prog);
    if (st) goto fail;
    if (a.timing) print_timing(dist, t_train);
    /* Every rank holds the same net: rank 0 writes it, and the others are
     * done (their last agreement waits for rank 0's outcome). */
    if (rank != 0) {
        rc = 0;
        goto out;
    }
    if ((st = hsi_cnn_checkpoint_write(a.output, net, &meta))) goto fail;
    if (!a.quiet) printf("wrote %s (epoch %d)\n", a.output, net->epoch);
    if (test) {
        /* The net has an output for every test class (classes counts them). */
        if ((st = labelled_pixels(&cube->shape, test, radius, a.border, &test_px, &test_cls, &n_test)))
            goto fail;
        if (!(pred = malloc((n_test + 1) * sizeof *pred))) {
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            goto fail;
        }
        scene_data test_ctx = {cube, test_px, radius, a.border};
        hsi_cnn_dataset test_set = {n_test, test_cls, gather_scene, &test_ctx};
        double test_loss, test_acc;
        if ((st = hsi_cnn_evaluate(net, &test_set, batch, &test_loss, &test_acc, pred))) goto fail;
        printf("test (%s):\n", a.test);
        print_accuracy(pred, test_cls, n_test, net->classes, meta.classes);
    }
    rc = 0;
    goto out;
fail:
    rc = cli_fail(name, st);
out:
    hsi_cnn_dist_free(dist);
    hsi_cnn_spec_free(spec);
    hsi_cnn_net_free(net);
    hsi_cnn_net_free(source);
    hsi_cnn_device_close(be);
    free(frozen);
    hsi_cnn_meta_clear(&meta);
    hsi_cnn_meta_clear(&resumed);
    hsi_patch_rows_free(cube);
    hsi_labels_free(train);
    hsi_labels_free(test);
    free(px), free(cls), free(test_px), free(test_cls), free(pred), free(order);
    free(train_px), free(val_px), free(train_lab), free(val_lab), free(weights);
    return rc;
}

/* ---------------------------------------------------------------- predict / eval */

static int run_apply(int argc, char **argv, int is_eval)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},  {"var", required_argument, NULL, 'v'},
        {"test", required_argument, NULL, 'T'},   {"output", required_argument, NULL, 'o'},
        {"prob", required_argument, NULL, 'p'},   {"batch", required_argument, NULL, 'B'},
        {"csv", required_argument, NULL, 'c'},    {"json", required_argument, NULL, 'j'},
        {"precision", required_argument, NULL, 'X'}, {"memory", required_argument, NULL, 'M'},
        {"device", required_argument, NULL, 1006}, {"deterministic", no_argument, NULL, 1007},
        {"tf32", no_argument, NULL, 1008},
        {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    size_t memory = hsi_memory_default();
    const char *model = NULL, *var = NULL, *test_path = NULL, *output = NULL, *probs = NULL;
    const char *csv = NULL, *json = NULL;
    long batch = 64;
    int quiet = 0, c, deterministic = 0, tf32 = 0;
    const char *device = "cpu";
    const hsi_cnn_backend *be = NULL;
    hsi_cnn_precision precision = HSI_CNN_FP32;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("m:o:qh"), longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'v': var = optarg; break;
        case 'T': test_path = optarg; break;
        case 'o': output = optarg; break;
        case 'p': probs = optarg; break;
        case 'c': csv = optarg; break;
        case 'j': json = optarg; break;
        case 'X':
            if (parse_precision(optarg, &precision)) return 2;
            break;
        case 'B':
            if (cli_parse_long(name, "--batch", optarg, 1, 100000, &batch)) return 2;
            break;
        case 'M':
            if (cli_parse_memory(name, optarg, &memory)) return 2;
            break;
        case 1006:
            if (check_device(optarg)) return 2;
            device = optarg;
            break;
        case 1007: deterministic = 1; break;
        case 1008: tf32 = 1; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case ':':
        default: return cli_getopt_error(name, is_eval ? "eval" : "predict", c, argv);
        }
    }
    const char *what = is_eval ? "eval" : "predict";
    if (optind != argc - 1) return cli_usage_error(name, "%s takes one CUBE", what);
    if (!model) return cli_usage_error(name, "%s needs -m MODEL", what);
    if (is_eval && !test_path) return cli_usage_error(name, "eval needs --test LABELS");
    if (!is_eval && !output) return cli_usage_error(name, "predict needs -o CLASSES");
    if (!is_eval && (csv || json)) return cli_usage_error(name, "--csv and --json apply to eval");
    if (cli_is_stdout(csv) && cli_is_stdout(json))
        return cli_usage_error(name, "--csv - and --json -: only one table can go to standard output");
    const char *cube_path = argv[optind];
    int rc = 1;
    hsi_status st;
    hsi_cnn_net *net = NULL;
    hsi_cnn_meta meta = {0};
    hsi_cube *prob = NULL;
    hsi_labels *map = NULL, *test = NULL;
    uint8_t *only = NULL;
    int32_t *pred = NULL, *truth = NULL;
    int rank, ranks;
    hsi_mpi_layout(&rank, &ranks);
    /* Under MPI every rank reads the model: all go on, or all stop. */
    st = open_device(device, deterministic, tf32, quiet, &be);
    if (!st) st = hsi_cnn_checkpoint_read(model, 0, (int)batch, be, &net, &meta);
    if (!st) st = hsi_cnn_net_set_precision(net, precision);
    if ((st = hsi_mpi_agree(st))) goto fail;
    if (!is_eval) {
        /* The whole scene, a tile of rows at a time (cnn3d/predict.c). */
        hsi_read_options ro = {0};
        ro.var = var;
        cli_progress prog;
        cli_progress_init(&prog, "hsi cnn predict", quiet);
        hsi_progress cb = cli_progress_callback(&prog);
        hsi_cnn_predict_report report;
        hsi_cnn_scene_options so = {&ro, model, 0, probs != NULL, &cb, NULL, memory, &report};
        /* Only the budget's own error here: a file that cannot be read is
         * reported by hsi_cnn_predict_file, after the ranks agree. */
        st = hsi_cnn_predict_tile_rows(net, &meta, cube_path, &ro, probs != NULL, memory, &so.tile_rows);
        if ((st = hsi_mpi_agree(st == HSI_ERR_NOMEM ? st : HSI_OK))) goto fail;
        size_t predicted = 0;
        double t0 = cli_now();
        st = hsi_cnn_predict_file(net, &meta, cube_path, &so, &map, probs ? &prob : NULL,
                                  &predicted);
        double seconds = cli_now() - t0;
        cli_progress_finish(&prog);
        if (st) goto fail;
        if (rank != 0) { /* rank 0 has the gathered rasters and writes them */
            rc = 0;
            goto out;
        }
        if ((st = hsi_labels_write(output, HSI_FORMAT_AUTO, map))) goto fail;
        if (prob && (st = hsi_cube_write(probs, HSI_FORMAT_AUTO, prob))) goto fail;
        if (!quiet) {
            printf("wrote %s (%zu x %zu, %zu pixels classified, %d classes)%s%s\n", output,
                   map->rows, map->cols, predicted, net->classes, prob ? " and " : "",
                   prob ? probs : "");
            /* Which path ran: dense over tiles (cnn3d/predict_dense.h), or a
             * window per pixel, and why. */
            char path_text[400];
            if (report.dense)
                snprintf(path_text, sizeof path_text,
                         "dense: %zu x %zu-pixel tiles, %.3g MFLOP a pixel against %.3g per window",
                         report.plan.tile_rows, report.plan.tile_cols,
                         report.plan.dense_cost / (predicted ? (double)predicted : 1.0) / 1e6,
                         report.plan.window_flops / 1e6);
            else
                snprintf(path_text, sizeof path_text, "per window%s%s%s",
                         *report.why ? ": " : "", report.why,
                         hsi_cnn_predict_on_device(net)
                             ? "; each tile's rows sent to the GPU once, the windows cut out there"
                             : "");
            printf("classified in %.2f s (%.0f pixels/s, %s)\n", seconds,
                   seconds > 0 ? predicted / seconds : 0.0, path_text);
        }
        rc = 0;
        goto out;
    }
    {
        /* Evaluation: the test pixels only, classified a tile of rows at a
         * time as in predict (row tiles without test pixels are not read),
         * then scored against their labels. */
        hsi_read_options ro = {0};
        ro.var = var;
        hsi_cube_reader *rd = NULL;
        size_t rows, cols, bands;
        if ((st = hsi_cube_reader_open(cube_path, &ro, &rd))) goto fail;
        hsi_cube_reader_shape(rd, &rows, &cols, &bands);
        hsi_cube_reader_close(rd);
        if ((st = hsi_labels_read_for(test_path, NULL, rows, cols, &test))) goto fail;
        if (hsi_labels_max(test) > net->classes) {
            st = hsi_error(HSI_ERR_DATA, "%s: class %d, but %s knows %d classes", test_path,
                           hsi_labels_max(test), model, net->classes);
            goto fail;
        }
        size_t n_test = 0;
        if ((only = malloc(rows * cols)))
            for (size_t i = 0; i < rows * cols; i++) n_test += only[i] = test->data[i] != 0;
        if (!only || !(pred = malloc((n_test + 1) * sizeof *pred)) ||
            !(truth = malloc((n_test + 1) * sizeof *truth))) {
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            goto fail;
        }
        cli_progress prog;
        cli_progress_init(&prog, "hsi cnn eval", quiet);
        hsi_progress cb = cli_progress_callback(&prog);
        hsi_cnn_scene_options so = {&ro, model, 0, 0, &cb, only, memory, NULL};
        st = hsi_cnn_predict_tile_rows(net, &meta, cube_path, &ro, 0, memory, &so.tile_rows);
        if ((st = hsi_mpi_agree(st == HSI_ERR_NOMEM ? st : HSI_OK))) goto fail;
        st = hsi_cnn_predict_file(net, &meta, cube_path, &so, &map, NULL, NULL);
        cli_progress_finish(&prog);
        if (st) goto fail;
        if (rank != 0) {
            rc = 0;
            goto out;
        }
        size_t n = 0;
        for (size_t i = 0; i < rows * cols; i++)
            if (only[i] && map->data[i]) {
                pred[n] = map->data[i] - 1;
                truth[n++] = test->data[i] - 1;
            }
        /* --csv - / --json - put that table on standard output in place of the text. */
        if (!cli_is_stdout(csv) && !cli_is_stdout(json)) {
            printf("%s on %s (%s):\n", model, cube_path, test_path);
            print_accuracy(pred, truth, n, net->classes, meta.classes);
        }
        const char *tables[2] = {csv, json};
        for (int t = 0; t < 2; t++) {
            if (!tables[t]) continue;
            cli_output co;
            if ((st = cli_output_open(&co, tables[t]))) goto fail;
            write_accuracy(co.fp, t + 1, pred, truth, n, net->classes, meta.classes);
            if ((st = cli_output_close(&co, HSI_OK))) goto fail;
        }
        if (n < n_test && !cli_is_stdout(csv) && !cli_is_stdout(json))
            printf("%zu test pixels not scored: nodata in every band, or nearer the edge than the "
                   "patch radius with the skip border mode\n",
                   n_test - n);
    }
    rc = 0;
    goto out;
fail:
    rc = cli_fail(name, st);
out:
    hsi_cnn_net_free(net);
    hsi_cnn_device_close(be);
    hsi_cnn_meta_clear(&meta);
    hsi_cube_free(prob);
    hsi_labels_free(map);
    hsi_labels_free(test);
    free(only), free(pred), free(truth);
    return rc;
}

static int run_train_sub(int argc, char **argv, int unused)
{
    (void)unused;
    return run_train(argc, argv);
}

static int run(int argc, char **argv)
{
    if (argc < 2) return cli_usage_error(name, "give a subcommand: summary, train, predict or eval");
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    /* getopt sees argv[0] = "hsi cnn SUB". */
    if (!strcmp(sub, "summary")) return run_summary(argc - 1, argv + 1);
    int (*action)(int, char **, int) = !strcmp(sub, "train")     ? run_train_sub
                                       : !strcmp(sub, "predict") ? run_apply
                                       : !strcmp(sub, "eval")    ? run_apply
                                                                 : NULL;
    if (!action)
        return cli_usage_error(name, "unknown subcommand '%s' (summary, train, predict, eval)", sub);
    int sub_argc = argc - 1, rank, ranks;
    char **sub_argv = argv + 1;
    int mpi = hsi_mpi_start(&sub_argc, &sub_argv, &rank, &ranks);
    if (mpi < 0) return cli_error(name, "MPI_Init failed");
    /* Every rank runs the same command on the same inputs: rank 0 alone
     * speaks; another rank's own failure reaches rank 0 through the
     * agreements (base/mpi.h), which prints it naming the rank. */
    if (rank != 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) return 1;
    }
    int rc = action(sub_argc, sub_argv, !strcmp(sub, "eval"));
    if (mpi) {
        /* The last agreement: ranks that finished while rank 0 wrote the
         * outputs learn how that went; a rank that stopped early (its inputs
         * or command line differ) does not leave the others waiting. */
        hsi_status st = HSI_OK;
        if (rc == 1) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", *hsi_last_error() ? hsi_last_error() : "failed");
            st = hsi_error(HSI_ERR_DATA, "%s", msg);
        } else if (rc) {
            st = hsi_error(HSI_ERR_ARG, "invalid command line (only rank 0 prints usage errors)");
        }
        st = hsi_mpi_finish(st);
        if (st && !rc) rc = cli_fail(name, st);
        hsi_mpi_stop();
    }
    return rc;
}

const hsi_command cmd_cnn = {"cnn", "3D-CNN: model summary, training, whole-scene prediction, evaluation",
                             usage, run};
