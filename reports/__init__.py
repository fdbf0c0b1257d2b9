"""What the user sees: text tables, CSV/JSON results, plots and reports."""
