# ruff: noqa
def match(self, ttype, values, regex=False):
    """Checks whether the token matches the given arguments."""
    if self.ttype is not ttype:
        return False
    if values is None:
        return True

    if isinstance(values, str):
        values = (values,)

    if regex:
        flag = re.IGNORECASE if self.is_keyword else 0
        for v in values:
            if re.compile(v, flag).search(self.normalized):
                return True
        return False

    # One comparison for keywords and names alike.
    return self.normalized.upper() in {v.upper() for v in values}
