/* progress.h - how long-running library work reports progress.
 *
 * The library never prints: it calls the caller's hsi_progress callback,
 * and tools/progress.c draws a bar on a terminal or plain lines otherwise.
 */
#ifndef HSI_PROGRESS_H
#define HSI_PROGRESS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hsi_progress {
    /* done of total units finished; msg is a short status ("loss 0.31 acc
     * 0.87"), may be NULL. Called from the calling thread only. */
    void (*update)(void *ctx, double done, double total, const char *msg);
    void *ctx;
} hsi_progress;

static inline void hsi_progress_report(const hsi_progress *p, double done, double total,
                                       const char *msg)
{
    if (p && p->update) p->update(p->ctx, done, total, msg);
}

#ifdef __cplusplus
}
#endif
#endif
