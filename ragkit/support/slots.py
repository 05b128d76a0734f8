"""Deterministic slot extraction and validation: patterns, enums, catalogue names, cue words.

Owns: pure functions that find slot values in one utterance and normalise them (order ids,
emails, phones, products by name or SKU, return reasons by synonym, addresses after a cue
phrase), and the dialogue-act detectors (yes / no / abort / correction). Knows nothing about
models: the generator fallback lives in :mod:`ragkit.support.nlu`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from ragkit.pii import luhn_ok
from ragkit.support.domain import Domain, Phrases, Product, SlotSpec

_CJK = re.compile(r"[\u3400-\u9fff]")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![A-Za-z0-9-])\+?\(?\d[\d\s().-]{5,20}\d(?![A-Za-z0-9-])")
_WS = re.compile(r"\s+")
_TRAIL = " \t.,;:!?。，；：！？'\"“”‘’"
_ADDRESS_LEADS = ("it's ", "it is ", "its ", "the new address is ", "new address: ", "address: ",
                  "to ", "please send it to ", "my new address is ", "新地址是", "新地址：",
                  "地址是", "地址：", "地址:", "是")


_NOT_YET = re.compile(r"\b(don'?t|do not)\b[^.?!]*\byet\b")  # "don't submit it yet"


def language(text: str) -> str:
    """"zh" when the text holds any CJK character, else "en"."""
    return "zh" if _CJK.search(text) else "en"


def clean(text: str) -> str:
    """NFKC (full-width digits and letters become ASCII), curly quotes straightened, lower-case."""
    t = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'")
    return t.lower()


def collapse(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _phrase_re(phrase: str) -> re.Pattern[str]:
    p = re.escape(clean(phrase))
    if _CJK.search(phrase):
        return re.compile(p)
    return re.compile(rf"(?<![a-z0-9]){p}(?![a-z0-9])")


def find_phrases(text: str, phrases: Iterable[str]) -> list[tuple[int, int, str]]:
    """(start, end, phrase) for every phrase found in ``text`` (cleaned; English on word edges)."""
    t = clean(text)
    out = []
    for ph in phrases:
        if not ph.strip():
            continue
        for m in _phrase_re(ph).finditer(t):
            out.append((m.start(), m.end(), ph))
    return out


# -- validators / normalisers -------------------------------------------------------------
def normalise_phone(raw: str) -> str | None:
    digits = re.sub(r"\D", "", raw)
    if not 8 <= len(digits) <= 15:
        return None
    return ("+" if raw.strip().startswith("+") else "") + digits


def find_pattern(text: str, spec: SlotSpec) -> list[str]:
    assert spec.pattern is not None
    out = []
    for m in re.finditer(spec.pattern, unicodedata.normalize("NFKC", text)):
        value = m.group(0)
        if spec.normalise:
            value = spec.normalise.format(m.group(0), *m.groups())
        out.append(value.upper() if spec.normalise is None else value)
    return out


_JOINED = re.compile(r"\s*(?:,|，|、|&|\+|and|and also|or|plus|as well as|和|跟|与|以及|还有|及|或)"
                     r"\s*", re.IGNORECASE)


def listed_values(text: str, domain: Domain, slot: str) -> list[str]:
    """The different values of pattern slot ``slot`` that ``text`` lists side by side
    ("return BC-291108 and BC-233467", "BC-1、BC-2"), in the order written; empty unless
    there are two or more. "not BC-1, it's BC-2" lists nothing: it corrects."""
    spec = domain.spec.slots.get(slot)
    if spec is None or spec.type != "pattern" or spec.pattern is None:
        return []
    t = unicodedata.normalize("NFKC", text)
    spans = [m.span() for m in re.finditer(spec.pattern, t)]
    if len(spans) < 2 or not all(_JOINED.fullmatch(t[a[1]:b[0]])
                                 for a, b in zip(spans, spans[1:], strict=False)):
        return []
    values = list(dict.fromkeys(find_pattern(t, spec)))
    return values if len(values) > 1 else []


_ORDINALS = (
    (0, r"\b(?:the )?(?:first|1st|former|top)(?: one| order)?\b|第一|前一个|前面(?:那|这)?个|头一个"),
    (1, r"\b(?:the )?(?:second|2nd)(?: one| order)?\b|第二|后一个|后面(?:那|这)?个"),
    (-1, r"\b(?:the )?(?:last|latter)(?: one| order)?\b|最后(?:那|一)个"),
)


def ordinal(text: str) -> int | None:
    """Which of the offered options a short answer picks ("the first one", "第二个"; -1 for
    "the last one"), or None."""
    t = clean(text)
    if len(t) > 60:
        return None
    for index, pattern in _ORDINALS:
        if re.search(pattern, t):
            return index
    return None


def find_emails(text: str) -> list[str]:
    return [m.group(0).lower() for m in _EMAIL.finditer(unicodedata.normalize("NFKC", text))]


def find_phones(text: str, skip: Iterable[str] = ()) -> list[str]:
    t = unicodedata.normalize("NFKC", text)
    for s in skip:  # order/return ids and emails are not phone numbers
        t = t.replace(s, " ")
    out = []
    for m in _PHONE.finditer(t):
        raw = m.group(0)
        digits = re.sub(r"\D", "", raw)
        if len(digits) >= 13 and luhn_ok(digits):  # a card number, never a phone
            continue
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw.strip()):  # a date
            continue
        phone = normalise_phone(raw)
        if phone:
            out.append(phone)
    return out


def find_products(text: str, products: list[Product]) -> list[str]:
    """SKUs mentioned by SKU or name, longest names first, in order of mention."""
    t = clean(text)
    hits: list[tuple[int, int, str]] = []
    for p in products:
        for name in (p.sku, *p.names):
            for m in _phrase_re(name).finditer(t):
                hits.append((m.start(), m.end(), p.sku))
    hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
    out: list[str] = []
    end = -1
    for s, e, sku in hits:
        if s >= end:
            out.append(sku)
            end = e
    return out


def find_enum(text: str, spec: SlotSpec) -> list[str]:
    """Enum values whose synonyms occur, in order of mention (longer synonyms win overlaps)."""
    hits: list[tuple[int, int, str]] = []
    for value, phrases in spec.values.items():
        for s, e, _ in find_phrases(text, phrases.all()):
            hits.append((s, e, value))
    hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
    out: list[str] = []
    end = -1
    for s, e, value in hits:
        if s >= end:
            out.append(value)
            end = e
    return out


# words after an address that are not part of it
_ADDRESS_TAILS = (" please", " pls", " plz", " thanks", " thank you", " instead", " then",
                  " rather", " asap", " if possible", "，谢谢", " 谢谢", "谢谢", "吧", "可以吗",
                  "行吗", "好吗", "可以不")


def normalise_address(raw: str) -> str:
    a = collapse(unicodedata.normalize("NFKC", raw)).strip(_TRAIL)
    low = a.lower()
    for lead in _ADDRESS_LEADS:
        if low.startswith(lead) and len(a) > len(lead) + 4:
            a, low = a[len(lead):].strip(_TRAIL), low[len(lead):].strip(_TRAIL)
    trimmed = True
    while trimmed:  # "..., 75001 Paris instead please" -> "..., 75001 Paris"
        trimmed = False
        for tail in _ADDRESS_TAILS:
            if low.endswith(tail) and len(a) > len(tail) + 4:
                a = a[: -len(tail)].strip(_TRAIL)
                low, trimmed = a.lower(), True
    return a


def looks_like_address(text: str) -> bool:
    t = unicodedata.normalize("NFKC", text)
    if _CJK.search(t):
        return bool(re.search(r"[省市区县路街道号弄室楼镇村]", t)) and len(t) >= 6
    return bool(re.search(r"\d", t)) and bool(re.search(r"[A-Za-z]{3,}", t)) and len(t) >= 8


def find_address(text: str, spec: SlotSpec) -> str | None:
    """The text after the last cue phrase ("ship it to ...", "改成..."), if it looks like one."""
    t = unicodedata.normalize("NFKC", text)
    hits = find_phrases(t, spec.cues.all())
    if not hits:
        return None
    s, e, _ = max(hits, key=lambda h: (h[1], h[1] - h[0]))
    value = normalise_address(t[e:])
    return value if looks_like_address(value) else None


# -- dialogue acts ----------------------------------------------------------------------
def _bare(text: str) -> str:
    return collapse(re.sub(r"[^\w\s'\u3400-\u9fff-]", " ", clean(text)))


def starts_with_any(text: str, phrases: Phrases) -> bool:
    t = _bare(text)
    for ph in sorted(phrases.all(), key=len, reverse=True):
        p = _bare(ph)
        if not p:
            continue
        if t == p:
            return True
        if _CJK.search(p):
            if t.startswith(p) and len(t) <= len(p) + 8:
                return True
        elif t.startswith(p + " ") and len(t.split()) <= len(p.split()) + 6:
            return True
    return False


def is_affirm(text: str, domain: Domain) -> bool:
    c = domain.spec.confirmation
    if not starts_with_any(text, c.affirm) or is_deny(text, domain):
        return False
    # "ok, thanks" after "shall I file it?" closes the conversation; it does not say yes
    return not (find_phrases(text, c.thanks.all()) and not find_phrases(
        text, c.strong_affirm.all()))


def is_deny(text: str, domain: Domain) -> bool:
    c = domain.spec.confirmation
    if starts_with_any(text, c.deny):
        return True
    short = len(_bare(text).split()) <= 10 if language(text) == "en" else len(_bare(text)) <= 20
    return short and bool(find_phrases(text, c.hold.all()) or _NOT_YET.search(clean(text)))


def is_abort(text: str, domain: Domain) -> bool:
    """"never mind" / "算了" as (nearly) the whole message, not inside a longer request."""
    hits = find_phrases(text, domain.spec.abort.all())
    if not hits:
        return False
    covered: set[int] = set()  # "forget about it, I'll keep it": both phrases count
    for s, e, _ in hits:
        covered.update(range(s, e))
    rest = len(_bare(text)) - len(covered)
    return rest <= (6 if language(text) == "zh" else 16)


def is_question(text: str) -> bool:
    t = clean(text).strip()
    return t.endswith(("?", "吗", "呢", "么")) or bool(re.match(
        r"(quick question|one question|what|how|when|where|why|which|do you|does|can i|is it|"
        r"are there|顺便问|请问|问一下|对了)", t))


_FOLLOW_ON = re.compile(r"^\s*(?:and|also|what about|how about|same for|now)\b|^\s*(?:那|还有|另外|再查)")


def follows_on(text: str) -> bool:
    """"and order BC-…?" / "what about …" / "那订单…呢": the same request again, for new values."""
    return bool(_FOLLOW_ON.search(clean(text)))


_PERSONAL = re.compile(r"\b(?:my|mine|me|i|i'm|i've|i'd|im|ive|we|our|us)\b|我|咱")


def personal(text: str) -> bool:
    """Whether the customer speaks of themselves ("my refund", "我的订单")."""
    return bool(_PERSONAL.search(clean(text)))


_GENERAL = re.compile(r"\b(?:usually|typically|normally|generally|in general|on average|"
                      r"as a rule)\b|一般|通常|平均|正常情况")


def general(text: str) -> bool:
    """Whether the customer asks how things usually go ("how long does a refund usually
    take", "退款一般多久到账") rather than about a case of their own."""
    return bool(_GENERAL.search(clean(text)))


_RULE = re.compile(
    r"^(?:how many (?:days|weeks|hours|times)|how much|how long|how soon|how late|until when|"
    r"by when|within how|what(?:'s| is) the (?:deadline|time limit|limit|fee|cost|charge|"
    r"window|period|maximum|minimum)|is there an? (?:fee|charge|deadline|time limit|limit))\b"
    r"|多少天|几天|多久|多长时间|期限|时限|截止|多少钱|收费吗|要钱吗")
_OWN = re.compile(r"\b(?:my|mine|our)\b|我的|我们的")


def asks_rule(text: str) -> bool:
    """Whether the customer asks what a rule says (how many days, how much, the deadline),
    not about a case of their own: "How many days do I have to send back an item for a
    refund?" asks for the return window, "how many days until my refund arrives?" about
    their refund."""
    t = clean(text)
    return bool(_RULE.search(t)) and not _OWN.search(t)


_REMEDY = re.compile(r"\bwhat (?:can|should|shall|do) i do\b|\bwhat now\b|\bwhat are my options\b"
                     r"|\bhow (?:do|can) i (?:fix|sort|solve)\b|\bcan you (?:help|sort)\b"
                     r"|怎么办|咋办|怎么处理|如何处理|该怎么做|怎么解决|能处理吗")
_RECEIVED = re.compile(r"\b(?:arrived|came|got|received|delivered|showed up|turned up)\b"
                       r"|收到|到货|送到|到手|买的")


def asks_remedy(text: str) -> bool:
    """Whether the customer asks what can be done for them ("what can I do?", "怎么办")."""
    return bool(_REMEDY.search(clean(text)))


def about_own_item(text: str) -> bool:
    """Whether the customer speaks of something they have or received ("my grinder", "the
    kettle I got", "收到的水壶")."""
    return personal(text) or bool(_RECEIVED.search(clean(text)))


def has_words(text: str) -> bool:
    """Whether ``text`` holds a word or a Chinese character at all (not only "?!..." or emoji)."""
    return bool(re.search(r"[A-Za-z]{2,}|[\u3400-\u9fff]", text))


def is_correction(text: str, domain: Domain) -> bool:
    return bool(find_phrases(text, domain.spec.correction_cues.all()))


def mentions_other(text: str) -> bool:
    """"the other order" / "另一个订单" without saying which."""
    return bool(re.search(r"\b(the )?other (one|order)\b|另一个|另外一个|另一笔", clean(text)))


_IDS = re.compile(r"(?i)(?<![a-z])(?:bc|rt|wc|tk)[-\s]?\d{6}(?!\d)")
_FILLER = re.compile(r"[^\w\u3400-\u9fff]+")


def residual(text: str, domain: Domain) -> str:
    """``text`` without its structured values (emails, phone numbers, ids, pattern slots).

    What is left says what the customer wants *besides* handing over data: "my phone number
    is" or "手机号码" carry no request of their own, "cancel" or "我要退货" do.
    """
    t = unicodedata.normalize("NFKC", text)
    for spec in domain.spec.slots.values():
        if spec.type == "pattern" and spec.pattern:
            t = re.sub(spec.pattern, " ", t)
    t = _EMAIL.sub(" ", _IDS.sub(" ", t))
    return _words(_PHONE.sub(" ", t))


def _words(text: str) -> str:
    return collapse(_FILLER.sub(" ", text)).strip()


def bare_residual(text: str, domain: Domain) -> str | None:
    """The :func:`residual` of a message that is (nearly) only structured values, like an
    answer to "what is your email"; None for any other message."""
    rest = residual(text, domain)
    if rest == _words(unicodedata.normalize("NFKC", text)):
        return None  # no structured value at all
    if language(text) == "zh":
        bare = len(_CJK.findall(rest)) <= 8 and len(rest.split()) <= 3
    else:
        bare = len(rest.split()) <= 6
    return rest if bare else None


def extract(text: str, domain: Domain, expected: str | None = None) -> dict[str, str]:
    """Every slot value the rules can find in ``text`` (the last mention wins).

    ``expected`` is the slot the assistant just asked for: a bare answer (an address on its
    own line) is accepted for it.
    """
    out: dict[str, str] = {}
    seen: list[str] = []
    for name, spec in domain.spec.slots.items():
        values: list[str] = []
        if spec.type == "pattern":
            values = find_pattern(text, spec)
        elif spec.type == "email":
            values = find_emails(text)
        elif spec.type == "enum":
            values = find_enum(text, spec)
        elif spec.type == "catalogue":
            values = find_products(text, domain.products)
        elif spec.type == "text":
            found = find_address(text, spec)
            if found is None and expected == name and not out and not find_phones(text):
                bare = normalise_address(text)
                found = bare if looks_like_address(bare) else None
            values = [found] if found else []
        if spec.type in ("email", "phone") and len(set(values)) > 1:
            seen.extend(values)  # two different identities in one message: take neither
            continue
        if values:
            out[name] = values[-1]
            seen.extend(values)
    skip = [*seen, *_IDS.findall(text)]
    for name, spec in domain.spec.slots.items():
        if spec.type == "phone":
            phones = find_phones(text, skip)
            if len(set(phones)) == 1:
                out[name] = phones[-1]
    if "address" in out and expected != "address":
        # an address often holds numbers that are not phones
        for name, spec in domain.spec.slots.items():
            if spec.type == "phone" and name in out and out[name].lstrip("+") in re.sub(
                    r"\D", "", out["address"]):
                del out[name]
    return out
