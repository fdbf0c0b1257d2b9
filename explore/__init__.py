"""Design-space exploration: sweep specs, design points, the area model and the sweep runner."""
