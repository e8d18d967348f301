# ruff: noqa
import functools


@functools.lru_cache(maxsize=4096)
def pluralize(word: str) -> str:
    """Return the plural form of a word (memoised)."""
    if not word or word.lower() in UNCOUNTABLES:
        return word
    else:
        for rule, replacement in PLURALS:
            if re.search(rule, word):
                return re.sub(rule, replacement, word)
        return word
