/* no_dlclose.c - preloaded into the MPI tests' processes in an ASan build
 * (tests/setup.sh, mpi_test_env): Open MPI unloads its components at
 * MPI_Finalize, and LeakSanitizer then spends seconds per rank on stack
 * frames in unmapped code. With dlclose doing nothing they stay mapped. */
int dlclose(void *handle);

int dlclose(void *handle)
{
    (void)handle;
    return 0;
}
