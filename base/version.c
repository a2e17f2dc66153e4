#include "config.h"

#include <gdal.h>
#include <stdio.h>

#include "base/version.h"

const char *hsi_version(void)
{
    return PACKAGE_VERSION;
}

int hsi_have_matio(void)
{
#ifdef HAVE_MATIO
    return 1;
#else
    return 0;
#endif
}

int hsi_have_mpi(void)
{
#ifdef HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int hsi_have_cuda(void)
{
#ifdef HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

const char *hsi_build_features(void)
{
    static char buf[320];
    snprintf(buf, sizeof buf, "gdal=%s openblas libsvm%s%s%s", GDALVersionInfo("RELEASE_NAME"),
             hsi_have_matio() ? " matio" : "", hsi_have_mpi() ? " mpi" : "",
             hsi_have_cuda() ? " cuda+cudnn" : "");
    return buf;
}
