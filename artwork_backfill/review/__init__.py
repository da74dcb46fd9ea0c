"""What a person reviews: the match table (matches.py), statistics and exports (report.py),
reviewer decisions (decisions.py), the review page (page/)."""
