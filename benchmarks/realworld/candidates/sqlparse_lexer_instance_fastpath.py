# ruff: noqa
@classmethod
def get_default_instance(cls):
    """Returns the lexer instance used internally
    by the sqlparse core functions."""
    instance = cls._default_instance
    if instance is not None:
        return instance
    with cls._lock:
        if cls._default_instance is None:
            cls._default_instance = cls()
            cls._default_instance.default_initialization()
    return cls._default_instance
