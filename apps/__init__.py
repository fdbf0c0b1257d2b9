"""The commands and experiment drivers: ``simulate``, ``sweep``, ``rtlgen``, ``trace``, the presets
and SAT training reports and the showcases. The top layer: it runs the simulator and hands the
results to the renderers in ``reports``; nothing imports it.

The commands never call BLAS, so NumPy's OpenBLAS is asked for one thread (unless the environment
already says how many): its idle pool of threads would cost a command more CPU time than it runs."""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
