"""The package version, in a module of its own: modules inside the package read it from here, not
from the package root (whose lazy re-exports of the resources would make an import circle)."""

__version__ = "0.1.0"
