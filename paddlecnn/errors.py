"""The one exception type the CLI turns into a one-line message."""


class PaddleCNNError(Exception):
    """A user-facing error: the message names the file, line or argument and what to do."""
