# ruff: noqa
def frequencies(seq):
    """Find number of occurrences of each value in seq"""
    return dict(collections.Counter(seq))
