"""Position sizing internals; import the public API from ``services.calculation_service``."""
