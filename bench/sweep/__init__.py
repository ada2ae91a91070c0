"""The sweep: a plan of cells, each fitted and scored in a worker process, logged as it finishes."""
