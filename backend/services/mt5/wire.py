"""Calls that run next to the MetaTrader5 module and hand back only plain, picklable-free data.

This module is self-contained on purpose: the rpyc source sends its text once per connection
(``conn.execute`` of this fixed source, never of anything built from arguments) so that each
terminal call is ONE round trip that (1) rebuilds the request as a real ``dict`` on the node
(the C extension rejects a netref with "Unnamed arguments not allowed"), (2) reads
``last_error()`` right after the call, before anything else can overwrite it, and (3) turns the
named-tuple results (which do not pickle) into nested tuples that RPyC's brine sends by value, so
no netref ever leaks back. In process the same functions run directly on the module object.
"""

RECORD = "\x1erecord"


def encode(value):
    """Named tuples become ``(RECORD, ((field, value), ...))``; sequences become tuples."""
    if hasattr(value, "_asdict"):
        return (RECORD, tuple((k, encode(v)) for k, v in value._asdict().items()))
    if isinstance(value, (tuple, list)):
        return tuple(encode(v) for v in value)
    return value


def decode(value):
    """The inverse of ``encode`` on our side: records become dicts."""
    if isinstance(value, tuple):
        if len(value) == 2 and value[0] == RECORD:
            return {k: decode(v) for k, v in value[1]}
        return tuple(decode(v) for v in value)
    return value


def plain_call(mt5, name, args=(), kwargs=(), request=None, encoder=encode):
    """``mt5.<name>(...)``, then ``last_error()``; ``request`` is a tuple of (key, value) pairs."""
    function = getattr(mt5, name)
    result = function(dict(request)) if request is not None else function(*args, **dict(kwargs))
    return encoder(result), tuple(mt5.last_error())


def symbol_names(mt5):
    """Every symbol name the terminal lists (names only: a full symbols_get is heavy)."""
    symbols = mt5.symbols_get()
    names = None if symbols is None else tuple(s.name for s in symbols)
    return names, tuple(mt5.last_error())
