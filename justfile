# Developer shortcuts; each recipe is also a plain command in scripts/.

# run the whole test suite (installs what it needs)
test *ARGS:
    sh scripts/test.sh {{ARGS}}

# the whole flow on embedded defaults
demo *ARGS:
    sh scripts/demo.sh {{ARGS}}

# lint, format check and type check
check:
    python3 -m uv run --locked ruff check .
    python3 -m uv run --locked ruff format --check .
    python3 -m uv run --locked mypy artwork_backfill

# benchmarks (figures go into the README)
bench:
    python3 -m uv run --locked python bench/resolve_speed.py
    python3 -m uv run --locked python bench/apply_speed.py
    python3 -m uv run --locked python bench/report_speed.py
    python3 -m uv run --locked python bench/labelled_recall.py
    python3 -m uv run --locked python bench/simulated_gate.py
