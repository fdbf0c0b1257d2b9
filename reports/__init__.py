"""What the user sees: text tables, CSV/JSON results, plots and reports. Renderers only: they take
results and write text and plots; the drivers that run the simulator live in ``apps``."""
