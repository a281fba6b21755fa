"""winback: find lost customers, decide who is worth winning back, and win them back."""

__version__ = "0.1.0.dev0"
