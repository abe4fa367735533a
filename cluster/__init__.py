"""The compute plane: queue, job records, worker pool and the `pharos` CLI."""
