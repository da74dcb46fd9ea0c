"""Phase three: write the plan into `library.artwork_url`, and undo a run. The only package that
writes PostgreSQL (and within it, only `writer`).

From a command to its SQL:
- `settings`: ApplySettings (WXYC's variables), parse_int.
- `plan`: the pure plan (plan_apply, PlanRow, Plan) and RowState/classify.
- `session`: the connection with the bulk-write settings, require_source, read_states.
- `pause`: the cooperative live-DJ pause (LiveActivity).
- `ledger`: the write-ahead ledger of batch intents and reconcile.
- `writer`: the batch writer, the statements of an apply batch and of an undo batch.
- `hooks`: the no-op injection points of a batch (tests inject a kill or a delay there).
- `loop`: the batch loop shared by apply and undo (stop, ANALYZE, failure).
- `history`: RowHistory (each row's journaled writes and undos: who owns its value now),
  run_history (the apply/undo runs `report --json` lists).
- `results`: ApplyResult, UndoResult, RunFailed.
- `run`: run_apply. `undo`: run_undo.
"""
