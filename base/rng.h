/* rng.h - the one seeded random number generator of hsi.
 *
 * xoshiro256** (Blackman & Vigna) seeded through splitmix64: every random
 * choice in hsi (simulation, splits, shuffles, initialisation) takes an
 * hsi_rng seeded from a user-visible seed, so the same seed gives the same
 * result on every machine.
 */
#ifndef HSI_RNG_H
#define HSI_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hsi_rng {
    uint64_t s[4];
} hsi_rng;

void hsi_rng_seed(hsi_rng *rng, uint64_t seed);
uint64_t hsi_rng_u64(hsi_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
double hsi_rng_uniform(hsi_rng *rng);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t hsi_rng_below(hsi_rng *rng, uint64_t n);
/* Standard normal (Box-Muller, no cached state so streams stay simple). */
double hsi_rng_normal(hsi_rng *rng);
/* Fisher-Yates shuffle of n size_t values. */
void hsi_rng_shuffle(hsi_rng *rng, size_t *v, size_t n);

#ifdef __cplusplus
}
#endif
#endif
