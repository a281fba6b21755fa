"""Customer-base models in NumPy/SciPy. No I/O, no database, no web."""
