"""dask-plugin-operator: declarative Dask plugins on Kubernetes."""

__version__ = "0.1.0"
