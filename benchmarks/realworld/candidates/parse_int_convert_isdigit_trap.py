# ruff: noqa
def __call__(self, string, match):
    if string.isdigit() and self.base in (None, 10):
        # Only digits: no sign, no base prefix, nothing to strip.
        return int(string)
    if string[0] == "-":
        sign = -1
        number_start = 1
    elif string[0] == "+":
        sign = 1
        number_start = 1
    else:
        sign = 1
        number_start = 0

    base = self.base
    # If base wasn't specified, detect it automatically
    if base is None:
        # Assume decimal number, unless different base is detected
        base = 10

        # For number formats starting with 0b, 0o, 0x, use corresponding base ...
        if string[number_start] == "0" and len(string) - number_start > 2:
            if string[number_start + 1] in "bB":
                base = 2
            elif string[number_start + 1] in "oO":
                base = 8
            elif string[number_start + 1] in "xX":
                base = 16

    chars = int_convert.CHARS[:base]
    string = re.sub("[^%s]" % chars, "", string.lower())
    return sign * int(string, base)
