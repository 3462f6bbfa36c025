"""The one registration point of the package's serializable classes with Keras.

Every class a saved model may name (the BatchNormalization layer, the family
layers, the ``LayerwiseLR`` optimizer) is registered by `register`, under one
package name, `REGISTERED_PACKAGE`. A saved model stores
``"import keras_applications_bn>ClassName"`` beside each such object, and a
process that has not imported this package fails to load it with an error
quoting that name (`.h5`: "Unknown layer: 'import keras_applications_bn>...'"),
so the name says what to do. Files saved by earlier development versions name
``"keras_applications_bn>ClassName"``: those names stay registered too, so such
files keep loading.
"""

import keras

__all__ = ["REGISTERED_PACKAGE", "EARLIER_PACKAGE", "register"]

#: The package part of every registered name.
REGISTERED_PACKAGE = "import keras_applications_bn"
#: The package part that earlier development versions stored; still loadable.
EARLIER_PACKAGE = "keras_applications_bn"


def register(cls):
    """Register ``cls`` with Keras under `REGISTERED_PACKAGE`, and under
    `EARLIER_PACKAGE` for loading older files; returns ``cls`` (a class decorator)."""
    keras.saving.register_keras_serializable(package=REGISTERED_PACKAGE)(cls)
    keras.saving.get_custom_objects()[f"{EARLIER_PACKAGE}>{cls.__name__}"] = cls
    return cls
