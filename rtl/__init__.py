"""The hardware itself: Amaranth generators for N:M PE arrays and the pruning unit, Verilog export
and the synthesis/FPGA flows, checked against the reference kernels and the timing model."""
