# ruff: noqa
def _isint(string, inttype=int):
    """
    >>> _isint("123")
    True
    >>> _isint("123.45")
    False
    """
    if type(string) is inttype:
        return True
    if isinstance(string, (bytes, str)):
        try:
            inttype(string)
        except (ValueError, TypeError):
            return False
        return True
    return False
