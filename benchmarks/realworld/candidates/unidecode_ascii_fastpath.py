# ruff: noqa
def unidecode(txt):
    if txt.isascii():
        # _replaces maps every ASCII code point to itself.
        return txt
    replaces = _replaces
    size = len(replaces)
    chars = []
    append = chars.append
    for ch in txt:
        codepoint = ord(ch)
        if not codepoint:
            append("\x00")
        elif codepoint <= size:
            append(replaces[codepoint - 1])
    return "".join(chars)
