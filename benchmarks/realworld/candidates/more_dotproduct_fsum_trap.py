# ruff: noqa
def dotproduct(vec1, vec2):
    """Returns the dot product of the two iterables."""
    return math.fsum(map(operator.mul, vec1, vec2))
