"""Phase one: export the candidate rows (candidates.py), ask LML once per key (lml.py, the only
httpx importer), cache every answer (run.py)."""
