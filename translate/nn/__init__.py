"""Networks shared by the models."""
