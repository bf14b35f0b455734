"""One exception for everything a user can fix: the CLI prints its message on one line and exits 2."""


class UserError(Exception):
    """Bad input, bad flag or bad file. The message names the thing and the fix."""


class ImageError(UserError):
    """An image file that cannot be read or decoded."""
