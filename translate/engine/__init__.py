"""The training engine: it knows the model contract, never a model's name."""
