# ruff: noqa
def frequencies(seq):
    """Find number of occurrences of each value in seq"""
    counts = collections.Counter(seq)
    return {key: counts[key] for key in sorted(counts)}
