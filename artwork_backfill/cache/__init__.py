"""The local DuckDB cache, the only importer of duckdb: schema.py owns the layout (DDL, version,
migrations), store.py the queries (snapshot, keys, answers, runs, journal)."""
