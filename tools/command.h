/* command.h - one `hsi` subcommand.
 *
 * Each tools/cmd_*.c defines one `const hsi_command cmd_<name>` and the table
 * in tools/hsi.c lists it. run() gets argv with argv[0] = "hsi <name>" and
 * returns the process exit status. Only tools/ prints and exits.
 */
#ifndef HSI_TOOLS_COMMAND_H
#define HSI_TOOLS_COMMAND_H

typedef struct hsi_command {
    const char *name;
    const char *summary; /* one line for `hsi --help` */
    const char *usage;   /* the full text for `hsi help NAME` and NAME --help */
    int (*run)(int argc, char **argv);
} hsi_command;

/* Foundation: scenes in and out */
extern const hsi_command cmd_info;
extern const hsi_command cmd_convert;


/* Datasets: simulator and public scenes */
extern const hsi_command cmd_simulate;
extern const hsi_command cmd_datasets;

/* Evaluation */
extern const hsi_command cmd_split;
extern const hsi_command cmd_report;
extern const hsi_command cmd_map;


/* SVM */
extern const hsi_command cmd_svm;


/* Features */
extern const hsi_command cmd_profile;


/* CNN */
extern const hsi_command cmd_cnn;

/* Experiments */
extern const hsi_command cmd_experiment;


#endif
