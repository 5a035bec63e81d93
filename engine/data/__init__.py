"""mcdrec.engine.data: MMRec-format loading, shipped and synthetic datasets."""
from .dataset import Dataset
from .errors import DatasetError
from .registry import list_datasets, load_dataset

__all__ = ["Dataset", "DatasetError", "load_dataset", "list_datasets"]
