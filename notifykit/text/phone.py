"""A fast path for the usual phone number, an Indian mobile number written in E.164.

Importing libphonenumber (``phonenumbers``) and its metadata costs about 30 ms, a fifth of a
first dry run, and a config usually names only numbers like ``+919876543210``. Such a number is
recognised here with libphonenumber's own pattern for Indian mobile numbers (copied from its
metadata; ``tests/core/test_phone_fast_path.py`` fails if the installed library's pattern or
possible lengths differ, and checks that both agree on many numbers), and only while the
installed libphonenumber is the release it was copied from. Anything else, including
every number this path does not accept, goes to libphonenumber as before: the fast path only
ever answers "valid, and this is its E.164 form", never "invalid".
"""

from __future__ import annotations

import functools
import re

#: The libphonenumber release the pattern below was copied from. With any other release
#: installed (the dependency is ``phonenumbers>=8.13``, and Indian ranges change), the fast path
#: is off and every number goes to libphonenumber, so answers never depend on this copy.
PHONENUMBERS_VERSION = "9.0.43"

#: ``phonenumbers.PhoneMetadata.metadata_for_region("IN").mobile.national_number_pattern``
#: (phonenumbers :data:`PHONENUMBERS_VERSION`); every Indian mobile number has 10 digits.
IN_MOBILE_PATTERN = (
    r"(?:6(?:1279|828[01489])|7(?:887[02-9]|9313)|8(?:079[04-9]|(?:84|91)7[02-8]))\d{5}"
    r"|(?:160[01]|6(?:(?:12|[2-4]1|5[17]|6[13]|80)[0189]|7(?:1[0189]|86))"
    r"|7(?:1(?:2[0189]|9[0-5])|3(?:2[5-8]|[34][017-9]|9[016-9])|5(?:[15][017-9]|2[04-9]"
    r"|9[7-9])|6(?:0[0-47]|1[0-257-9]|2[0-4]|3[19]|5[4589])|70[0289]|88[089])"
    r"|8(?:0(?:6[67]|7[02-8])|70[017-9]|84[01489]|91[0-289]))\d{6}"
    r"|(?:731|8(?:16|2[014]|3[126]|6[136]|7[78]|83))(?:[0189]\d|7[02-8])\d{5}"
    r"|(?:6(?:(?:1[1358]|2[2457]|3[2-4]|4[235-7]|5[2-689]|6[24578])\d|7(?:[23569]\d|4[0189]"
    r"|8[0-57-9])|8(?:[14-6]\d|2[0-79]))|7(?:1(?:[013-8]\d|9[6-9])|3(?:2[0-49]|9[2-5])"
    r"|5(?:2[1-3]|9[0-6])|6(?:0[5689]|2[5-9]|3[02-8]|4\d|5[0-367])|70[13-7]|881))[0189]\d{5}"
    r"|(?:6(?:[09]\d|1[04679]|2[03689]|3[05-9]|4[0489]|50|6[069]|7[07]|8[7-9])"
    r"|7(?:[024]\d|3[05-8]|5[0346-8]|6[6-9]|7[1-9]|8[0-79]|9[06-9])"
    r"|8(?:0[01589]|1[0-57-9]|2[235-9]|3[03-57-9]|[45]\d|6[02457-9]|7[1-69]|8[0-25-9]"
    r"|9[02-9])|9\d\d)\d{7}"
)

# "+91", then ten ASCII digits that libphonenumber reads as an Indian mobile number (its
# national prefix for parsing, "0", cannot start one: the pattern does not allow it).
_E164_IN_MOBILE = re.compile(r"\+91(?:" + IN_MOBILE_PATTERN + r")", re.ASCII)


def indian_mobile_e164(text: str) -> str | None:
    """``text`` if it is an Indian mobile number written in E.164 (``+91`` and 10 digits,
    nothing else) that libphonenumber finds valid, else ``None``: ask libphonenumber."""
    if len(text) == 13 and _E164_IN_MOBILE.fullmatch(text) is not None and _same_release():
        return text
    return None


@functools.cache
def _same_release() -> bool:
    """Whether the installed libphonenumber is the release the pattern was copied from (read
    from its distribution's metadata, without importing it, nor importlib.metadata where
    :mod:`notifykit._dists` can read it: about 1 ms, once)."""
    from notifykit import _dists

    found = _dists.version("phonenumbers")
    if found is not None:
        return found == PHONENUMBERS_VERSION
    from importlib import metadata

    try:
        return metadata.version("phonenumbers") == PHONENUMBERS_VERSION
    except (metadata.PackageNotFoundError, ValueError, OSError):
        return False
