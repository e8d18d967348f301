# ruff: noqa
def normalize_hex(hex_value: str) -> str:
    """Normalize a hexadecimal color value to a string of six lowercase digits."""
    if (match := _HEX_COLOR_RE.match(hex_value)) is None:
        raise ValueError(f'"{hex_value}" is not a valid hexadecimal color value.')
    hex_digits = match.group(1)
    if len(hex_digits) == 3:
        a, b, c = hex_digits
        hex_digits = a + a + b + b + c + c
    return "#" + hex_digits.lower()
