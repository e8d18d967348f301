# ruff: noqa
def unidecode(txt):
    replaces = _replaces
    return "".join([replaces[ord(ch) - 1] if ch != "\x00" else "\x00" for ch in txt])
