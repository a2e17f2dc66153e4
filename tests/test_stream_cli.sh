#!/bin/sh
. "$HSI_SRCDIR/tests/setup.sh"
finish
