"""Design-space exploration: sweep specs, design points, the area and power models and the sweep runner."""
