centre fwhm
nm nm
400.02 9.78
409.82 9.82 0.1
  .5 0
