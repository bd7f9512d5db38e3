"""Exceptions that name what went wrong and where."""


class PneumonetError(Exception):
    """Base class of every error pneumonet raises on purpose."""


class DataLayoutError(PneumonetError, ValueError):
    """A data folder does not have the Kaggle layout ``{train,val,test}/{NORMAL,PNEUMONIA}``."""


class ImageLoadError(PneumonetError, ValueError):
    """One image file cannot be used; ``path`` names it and ``reason`` says why."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class WeightsUnavailableError(PneumonetError, RuntimeError):
    """Pretrained weights were asked for but cannot be had (offline, missing file)."""


class ModelFileError(PneumonetError, ValueError):
    """A model file is missing, not a Keras archive, or unsafe to load."""


class DataUnavailableError(PneumonetError, RuntimeError):
    """No data folder was found and the data set cannot be downloaded."""


class CheckpointError(PneumonetError, RuntimeError):
    """An interrupted run cannot be resumed exactly: its checkpoint is inconsistent, or the arguments differ."""


class TrainingDiverged(PneumonetError, RuntimeError):
    """The training loss became NaN or infinite: the learning rate is too high for this model and data."""
