"""Many generations: the batch runner (one per-item loop for batches, sweeps,
cluster partitions and the magic's `-n`), named jobs that resume from the
journal, sweeps, the progress model the runner reports to, and `cluster/`
(the Dask driver, its workers, and the link between them).  Drives the core's
generator; never draws anything (the renderers live in `jupyter/`).
"""
