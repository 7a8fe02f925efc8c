"""The package's version, in a module of its own so that any module can read it without importing the
package's whole API (the parse cache keys its entries by it)."""

__version__ = "0.1.0"
