# ruff: noqa
def parse_duration(datestring, as_timedelta_if_possible=True):
    """
    Parses an ISO 8601 durations into datetime.timedelta or Duration objects.

    Only the components present in the string are converted; an absent one is zero.
    """
    if not isinstance(datestring, str):
        raise TypeError("Expecting a string %r" % datestring)
    match = ISO8601_PERIOD_REGEX.match(datestring)
    if not match:
        # try alternative format:
        if datestring.startswith("P"):
            durdt = parse_datetime(datestring[1:])
            if as_timedelta_if_possible and durdt.year == 0 and durdt.month == 0:
                # FIXME: currently not possible in alternative format
                # create timedelta
                ret = timedelta(
                    days=durdt.day,
                    seconds=durdt.second,
                    microseconds=durdt.microsecond,
                    minutes=durdt.minute,
                    hours=durdt.hour,
                )
            else:
                # create Duration
                ret = Duration(
                    days=durdt.day,
                    seconds=durdt.second,
                    microseconds=durdt.microsecond,
                    minutes=durdt.minute,
                    hours=durdt.hour,
                    months=durdt.month,
                    years=durdt.year,
                )
            return ret
        raise ISO8601Error("Unable to parse duration string %r" % datestring)
    years, months, weeks, days, hours, minutes, seconds = match.group(
        "years", "months", "weeks", "days", "hours", "minutes", "seconds"
    )
    years = Decimal(years[:-1].replace(",", ".")) if years else Decimal(0)
    months = Decimal(months[:-1].replace(",", ".")) if months else Decimal(0)
    weeks = float(weeks[:-1].replace(",", ".")) if weeks else 0.0
    days = float(days[:-1].replace(",", ".")) if days else 0.0
    hours = float(hours[:-1].replace(",", ".")) if hours else 0.0
    minutes = float(minutes[:-1].replace(",", ".")) if minutes else 0.0
    seconds = float(seconds[:-1].replace(",", ".")) if seconds else 0.0
    negative = match.group("sign") == "-"
    if as_timedelta_if_possible and years == 0 and months == 0:
        ret = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds, weeks=weeks)
        if negative:
            ret = timedelta(0) - ret
    else:
        ret = Duration(
            years=years,
            months=months,
            days=days,
            hours=hours,
            minutes=minutes,
            seconds=seconds,
            weeks=weeks,
        )
        if negative:
            ret = Duration(0) - ret
    return ret
