"""The command line: app.py (the typer app), options.py (what commands share), one module per
command. Renders results as text or JSON; holds no logic."""
