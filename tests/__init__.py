"""The test suite: one package, so no test package is imported under a product package's name."""
