"""How the work maps onto the hardware: training GEMMs per layer, execution patterns, mappings."""
