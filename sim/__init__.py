"""How long it takes and what it costs: the timing model, the cost model and both fidelities."""
