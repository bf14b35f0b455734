"""Built-in models: one file each. A new model is one new file plus one import line here."""

from translate.models import pix2pix  # noqa: F401
