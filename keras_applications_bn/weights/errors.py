"""The one exception type of the weights package."""


class WeightsError(OSError):
    """A weight file could not be found, downloaded or verified."""
