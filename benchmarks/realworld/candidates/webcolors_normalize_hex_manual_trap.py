# ruff: noqa
def normalize_hex(hex_value: str) -> str:
    """Normalize a hexadecimal color value to a string of six lowercase digits."""
    digits = hex_value[1:]
    if hex_value[:1] != "#" or len(digits) not in (3, 6) or digits.strip("0123456789abcdefABCDEF"):
        raise ValueError(f'"{hex_value}" is not a valid hexadecimal color value.')
    if len(digits) == 3:
        digits = digits[0] * 2 + digits[1] * 2 + digits[2] * 2
    return "#" + digits.lower()
