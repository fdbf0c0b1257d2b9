"""The commands and experiment drivers: ``simulate``, ``sweep``, ``rtlgen``, ``trace``, the presets
and SAT training reports and the showcases. The top layer: it runs the simulator and hands the
results to the renderers in ``reports``; nothing imports it."""
