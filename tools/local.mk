# tools/local.mk - the hsi command; each area adds its tools/cmd_*.c in its own local.mk.
hsi_SOURCES += tools/hsi.c tools/cli.c tools/cli.h tools/command.h \
	tools/cmd_info.c tools/cmd_convert.c
