# ruff: noqa
@staticmethod
def _stripws_default(tlist):
    last_was_ws = False
    is_first_char = True
    for token in tlist.tokens:
        is_ws = token.is_whitespace
        if is_ws:
            token.value = "" if last_was_ws or is_first_char else " "
        last_was_ws = is_ws
        is_first_char = False
