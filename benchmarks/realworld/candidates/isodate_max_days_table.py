# ruff: noqa
def max_days_in_month(year, month):
    """
    Determines the number of days of a specific month in a specific year.
    """
    if month != 2:
        return (0, 31, 0, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month]
    if ((year % 400) == 0) or ((year % 100) != 0) and ((year % 4) == 0):
        return 29
    return 28
