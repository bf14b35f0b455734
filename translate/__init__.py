"""translate: image-to-image translation with GANs on one training engine."""

__version__ = "0.1.0"
