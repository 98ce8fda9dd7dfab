"""`generate_many(..., executor=dask_client)`: the driver keeps the journal,
the in-flight cap and the pace; each worker runs the core's generator with a
ledger and a pace that ask the driver; `link` carries their messages over
queues held by the scheduler.
"""
