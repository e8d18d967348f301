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
    if isinstance(string, bytes):
        string = string.decode("ascii", "replace")
    if isinstance(string, str):
        digits = string[1:] if string[:1] in "+-" else string
        return digits.isdigit()
    return False
