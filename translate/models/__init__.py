"""Built-in models: one file each. A new model is one new file plus one import line here."""

from translate.models import pix2pix  # noqa: F401
from translate.models import gan  # noqa: F401
from translate.models import cgan  # noqa: F401
from translate.models import wgan  # noqa: F401
from translate.models import wgan_gp  # noqa: F401
from translate.models import cyclegan  # noqa: F401
from translate.models import discogan  # noqa: F401
from translate.models import dualgan  # noqa: F401
from translate.models import cut  # noqa: F401
