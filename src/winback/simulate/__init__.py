"""A simulated business with known ground truth."""
