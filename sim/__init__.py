"""How long it takes and what it costs: the timing model, the analytic simulator and the CLI."""
