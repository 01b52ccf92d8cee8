"""The calculator's pure Decimal sizing steps; import them from ``services.calculation_service``."""
