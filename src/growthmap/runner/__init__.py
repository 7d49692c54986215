"""Running the pipeline: the stage registry (:mod:`.pipeline`), a run on a workspace
(:mod:`.duckdb_run`), a run on Spark (:mod:`.spark_run`), the snapshot writer
(:mod:`.snapshot`) and the allocator settings a large run needs (:mod:`.memory`)."""
