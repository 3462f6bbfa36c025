"""The exception and warning types of the weights package."""


class WeightsError(OSError):
    """A weight file could not be found, downloaded or verified."""


class ManifestWarning(UserWarning):
    """The cache's manifest held damaged records, which were ignored.

    A record is damaged when its name is not a plain file name inside the cache
    (an absolute path, ``..``, a directory, a control character) or its fields
    are missing or of the wrong type. It is never used, and the next write of the
    manifest drops it.
    """
