"""The demo's machinery: run.py (the whole flow on embedded defaults), pgembed.py (a throwaway
PostgreSQL), simulator/ (the LML simulator and the catalog generator with ground truth)."""
