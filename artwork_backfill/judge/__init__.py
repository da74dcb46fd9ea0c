"""Judging LML answers, pure (no I/O): what an image URL shows, text folding, scoring with
reasons, cross-key evidence, which answers are final, thresholds and reason codes."""
