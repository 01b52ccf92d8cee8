"""Request and response schemas (marshmallow, through APIFlask), one module per api module."""
