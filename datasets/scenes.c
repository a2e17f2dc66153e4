/* scenes.c - the public benchmark scenes: sizes, classes, files, checksums.
 *
 * Sizes and sha256 of the cubes are those listed in ../shared/data/README.md;
 * those of the ground truths are of the copies kept there (identical to the
 * published files). No reference checksum is at hand for the KSC and
 * Botswana ground truths: datasets/fetch says so instead of inventing one.
 */
#include "datasets/scenes.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* The colour map most published Indian Pines (and Salinas) maps use. */
#define UNLABELLED {"Unlabelled", {0, 0, 0}}
#define IP_PALETTE_1 {255, 254, 137}
#define IP_PALETTE_2 {3, 28, 241}
#define IP_PALETTE_3 {255, 89, 1}
#define IP_PALETTE_4 {5, 255, 133}
#define IP_PALETTE_5 {255, 2, 251}
#define IP_PALETTE_6 {89, 1, 255}
#define IP_PALETTE_7 {3, 171, 255}
#define IP_PALETTE_8 {12, 255, 7}
#define IP_PALETTE_9 {172, 175, 84}
#define IP_PALETTE_10 {160, 78, 158}
#define IP_PALETTE_11 {101, 173, 255}
#define IP_PALETTE_12 {60, 91, 112}
#define IP_PALETTE_13 {104, 192, 63}
#define IP_PALETTE_14 {139, 69, 46}
#define IP_PALETTE_15 {119, 255, 172}
#define IP_PALETTE_16 {254, 255, 3}

static const hsi_class_info indian_pines_classes[] = {
    UNLABELLED,
    {"Alfalfa", IP_PALETTE_1},
    {"Corn-notill", IP_PALETTE_2},
    {"Corn-mintill", IP_PALETTE_3},
    {"Corn", IP_PALETTE_4},
    {"Grass-pasture", IP_PALETTE_5},
    {"Grass-trees", IP_PALETTE_6},
    {"Grass-pasture-mowed", IP_PALETTE_7},
    {"Hay-windrowed", IP_PALETTE_8},
    {"Oats", IP_PALETTE_9},
    {"Soybean-notill", IP_PALETTE_10},
    {"Soybean-mintill", IP_PALETTE_11},
    {"Soybean-clean", IP_PALETTE_12},
    {"Wheat", IP_PALETTE_13},
    {"Woods", IP_PALETTE_14},
    {"Buildings-Grass-Trees-Drives", IP_PALETTE_15},
    {"Stone-Steel-Towers", IP_PALETTE_16},
};

/* Salinas-A keeps the Salinas class ids (1, 10..14), so both share this table. */
static const hsi_class_info salinas_classes[] = {
    UNLABELLED,
    {"Brocoli_green_weeds_1", IP_PALETTE_1},
    {"Brocoli_green_weeds_2", IP_PALETTE_2},
    {"Fallow", IP_PALETTE_3},
    {"Fallow_rough_plow", IP_PALETTE_4},
    {"Fallow_smooth", IP_PALETTE_5},
    {"Stubble", IP_PALETTE_6},
    {"Celery", IP_PALETTE_7},
    {"Grapes_untrained", IP_PALETTE_8},
    {"Soil_vinyard_develop", IP_PALETTE_9},
    {"Corn_senesced_green_weeds", IP_PALETTE_10},
    {"Lettuce_romaine_4wk", IP_PALETTE_11},
    {"Lettuce_romaine_5wk", IP_PALETTE_12},
    {"Lettuce_romaine_6wk", IP_PALETTE_13},
    {"Lettuce_romaine_7wk", IP_PALETTE_14},
    {"Vinyard_untrained", IP_PALETTE_15},
    {"Vinyard_vertical_trellis", IP_PALETTE_16},
};

/* The colours usual in Pavia University maps (asphalt grey, meadows green,
 * bare soil brown, ...). */
static const hsi_class_info pavia_university_classes[] = {
    UNLABELLED,
    {"Asphalt", {192, 192, 192}},
    {"Meadows", {0, 255, 0}},
    {"Gravel", {0, 255, 255}},
    {"Trees", {0, 128, 0}},
    {"Painted metal sheets", {255, 0, 255}},
    {"Bare Soil", {165, 82, 41}},
    {"Bitumen", {128, 0, 128}},
    {"Self-Blocking Bricks", {255, 0, 0}},
    {"Shadows", {255, 255, 0}},
};

/* KSC and Botswana have no colour map shared across publications; these use
 * the Indian Pines palette in order. */
static const hsi_class_info ksc_classes[] = {
    UNLABELLED,
    {"Scrub", IP_PALETTE_1},
    {"Willow swamp", IP_PALETTE_2},
    {"Cabbage palm hammock", IP_PALETTE_3},
    {"Cabbage palm/oak hammock", IP_PALETTE_4},
    {"Slash pine", IP_PALETTE_5},
    {"Oak/broadleaf hammock", IP_PALETTE_6},
    {"Hardwood swamp", IP_PALETTE_7},
    {"Graminoid marsh", IP_PALETTE_8},
    {"Spartina marsh", IP_PALETTE_9},
    {"Cattail marsh", IP_PALETTE_10},
    {"Salt marsh", IP_PALETTE_11},
    {"Mud flats", IP_PALETTE_12},
    {"Water", IP_PALETTE_13},
};

static const hsi_class_info botswana_classes[] = {
    UNLABELLED,
    {"Water", IP_PALETTE_1},
    {"Hippo grass", IP_PALETTE_2},
    {"Floodplain grasses 1", IP_PALETTE_3},
    {"Floodplain grasses 2", IP_PALETTE_4},
    {"Reeds", IP_PALETTE_5},
    {"Riparian", IP_PALETTE_6},
    {"Firescar", IP_PALETTE_7},
    {"Island interior", IP_PALETTE_8},
    {"Acacia woodlands", IP_PALETTE_9},
    {"Acacia shrublands", IP_PALETTE_10},
    {"Acacia grasslands", IP_PALETTE_11},
    {"Short mopane", IP_PALETTE_12},
    {"Mixed mopane", IP_PALETTE_13},
    {"Exposed soils", IP_PALETTE_14},
};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)
#define EHU "https://www.ehu.eus/ccwintco/uploads/"

static const hsi_scene scenes[] = {
    {"indian_pines", "Indian Pines", "AVIRIS",
     "Purdue Indian Pine Test Site 3, near West Lafayette, Indiana, USA; 12 June 1992",
     145, 145, 200, 220, "104-108,150-163,220", 20.0,
     N_OF(indian_pines_classes), indian_pines_classes,
     "the 200-band 'corrected' cube; class 0 is unlabelled",
     {"Indian_pines_corrected.mat", "indian_pines_corrected", EHU "6/67/Indian_pines_corrected.mat",
      5953527, "ec2f8808710919d566f70f0d4aa885aae1ddfd42b734aba71c5e12ca65450939"},
     {"Indian_pines_gt.mat", "indian_pines_gt", EHU "c/c4/Indian_pines_gt.mat",
      1125, "65c4687a8ab04f6da4789799bc3bc4f6e88bccac3ed6a2e6ae367e5e6b9e429c"}},
    {"salinas", "Salinas", "AVIRIS", "Salinas Valley, California, USA",
     512, 217, 204, 224, "108-112,154-167,224", 3.7,
     N_OF(salinas_classes), salinas_classes,
     "the 204-band 'corrected' cube",
     {"Salinas_corrected.mat", "salinas_corrected", EHU "a/a3/Salinas_corrected.mat",
      26552770, "5ec1c0d22f56d18ecd336f8e35735863c0f160682e04e0c18ef3f89a3334d87d"},
     {"Salinas_gt.mat", "salinas_gt", EHU "f/fa/Salinas_gt.mat",
      4277, "ecfab4d31ef5553f097943235d8ea502038eb4a2067b2ad10b33e37c949955e2"}},
    {"salinas_a", "Salinas-A", "AVIRIS", "an 83 x 86 subscene of Salinas",
     83, 86, 204, 224, "108-112,154-167,224", 3.7,
     N_OF(salinas_classes), salinas_classes,
     "keeps the Salinas class ids: only 1, 10, 11, 12, 13, 14 occur",
     {"SalinasA_corrected.mat", "salinasA_corrected", EHU "1/1a/SalinasA_corrected.mat",
      1539086, "d75684ed3ab71a1024cee0f9db9061f50a3523a92ff5edfbbb1eed976b9f1721"},
     {"SalinasA_gt.mat", "salinasA_gt", EHU "a/aa/SalinasA_gt.mat",
      587, "17814c1d3296c0e29b27f320f2c4174d2a68adb87e376abe78f02923e2c2e454"}},
    {"pavia_university", "Pavia University", "ROSIS", "University of Pavia, northern Italy",
     610, 340, 103, 115, "12 noisy bands (not listed by the publisher)", 1.3,
     N_OF(pavia_university_classes), pavia_university_classes, "",
     {"PaviaU.mat", "paviaU", EHU "e/ee/PaviaU.mat",
      34806917, "28447fa87f7a5797845e9a189c0da85e23b1d06a4ba7361e5ff44efbf834d2fb"},
     {"PaviaU_gt.mat", "paviaU_gt", EHU "5/50/PaviaU_gt.mat",
      11005, "23f6a426928f9b32984adffe659e29f554f9fb6c93b5a107528d308d5087a829"}},
    {"ksc", "Kennedy Space Center", "AVIRIS", "Kennedy Space Center, Florida, USA; 23 March 1996",
     512, 614, 176, 224, "water-absorption and low-SNR bands (not listed by the publisher)", 18.0,
     N_OF(ksc_classes), ksc_classes, "no reference checksum of KSC_gt.mat is known",
     {"KSC.mat", "KSC", EHU "2/26/KSC.mat",
      56824624, "b1ad011cfdb65c853e4f9f6108ca4774467d87f90a5c23b74ff3a2984a3b4786"},
     {"KSC_gt.mat", "KSC_gt", EHU "a/a6/KSC_gt.mat", 0, NULL}},
    {"botswana", "Botswana", "Hyperion (EO-1)", "Okavango Delta, Botswana; 31 May 2001",
     1476, 256, 145, 242, "uncalibrated, noisy and water-absorption bands (publisher keeps 10-55, 82-97, 102-119, 134-164, 187-220)", 30.0,
     N_OF(botswana_classes), botswana_classes, "no reference checksum of Botswana_gt.mat is known",
     {"Botswana.mat", "Botswana", EHU "7/72/Botswana.mat",
      78911133, "f1603903c844cdc2980550b0180688e8e1a72d4292595d1120e1dec2a80a91c7"},
     {"Botswana_gt.mat", "Botswana_gt", EHU "5/58/Botswana_gt.mat", 0, NULL}},
};

static const struct {
    const char *alias, *name;
} aliases[] = {
    {"ip", "indian_pines"},     {"indianpinescorrected", "indian_pines"},
    {"sa", "salinas"},          {"sv", "salinas"},
    {"salinasa", "salinas_a"},  {"pu", "pavia_university"},
    {"paviau", "pavia_university"}, {"up", "pavia_university"},
    {"kennedyspacecenter", "ksc"}, {"bo", "botswana"}, {"bw", "botswana"},
};

size_t hsi_scene_count(void)
{
    return sizeof scenes / sizeof scenes[0];
}

const hsi_scene *hsi_scene_at(size_t i)
{
    return i < hsi_scene_count() ? &scenes[i] : NULL;
}

/* Lower case without '_', '-', ' ' so that "Indian Pines" == "indian_pines". */
static void normalise(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; *in && n + 1 < size; in++) {
        if (*in == '_' || *in == '-' || *in == ' ') continue;
        out[n++] = (char)tolower((unsigned char)*in);
    }
    out[n] = '\0';
}

const hsi_scene *hsi_scene_find(const char *name)
{
    if (!name) return NULL;
    char want[128], have[128];
    normalise(name, want, sizeof want);
    for (size_t i = 0; i < hsi_scene_count(); i++) {
        normalise(scenes[i].name, have, sizeof have);
        if (!strcmp(want, have)) return &scenes[i];
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(want, aliases[i].alias)) return hsi_scene_find(aliases[i].name);
    return NULL;
}

hsi_status hsi_scene_lookup(const char *name, const hsi_scene **out)
{
    *out = hsi_scene_find(name);
    if (*out) return HSI_OK;
    char known[256] = "";
    for (size_t i = 0; i < hsi_scene_count(); i++) {
        if (i) strncat(known, ", ", sizeof known - strlen(known) - 1);
        strncat(known, scenes[i].name, sizeof known - strlen(known) - 1);
    }
    return hsi_error(HSI_ERR_ARG, "unknown scene '%s' (known: %s)", name ? name : "", known);
}

hsi_status hsi_scene_apply_classes(const hsi_scene *scene, hsi_labels *labels)
{
    int max = hsi_labels_max(labels);
    if (max > scene->n_classes)
        return hsi_error(HSI_ERR_DATA, "class id %d in the ground truth exceeds the %d classes of %s",
                         max, scene->n_classes, scene->title);
    return hsi_labels_set_classes(labels, scene->classes, scene->n_classes);
}
