"""What kind of answer a question asks for, and whether a text can be one.

"How much does the blender weigh?" can only be answered by a weight, "What is the output power
in watts?" by a power, "Which colours does it come in?" by colours. A relevance scorer rates
"capacity: 600 ml" highly for the first question (same product, a number) and the generator
then writes "it weighs 600 ml"; the question's answer type catches that without a model: the
sentence has no weight in it, so it cannot be the answer. Classic question answering used the
same check (expected answer type against candidate entities); here it is a small table of
measures with the words that ask for them and the units that state them, in English and
Chinese, read the same way whatever the language of the evidence (a Chinese question is
often answered from an English sentence).

Only questions that unmistakably ask for a measure, a named role, a money amount, a year or a
postal address get a type ("how long does it take", "how much does it cost", "who founded",
"what was the revenue", "which year", "what is the office's address"); "when", "who pays", "what is your policy"
and yes/no questions are answered in too many ways ("when the battery holds less than 60%",
"our support team") and get none, so they are never refused here.

Owns, all pure: :func:`expected` (the types a question accepts, empty when it asks for none)
and :func:`satisfies` (whether a text states one of them). Does not score relevance, choose
evidence or decide a refusal (:mod:`ragkit.rag.graph` does, with these two).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_NUM = (r"(?:\d+(?:[.,]\d+)*|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
        r"twelve|fifteen|twenty|thirty|forty|fifty|sixty|ninety|hundred|a|an|half|a few|"
        r"several)\b|[零〇一二两三四五六七八九十百千万半几]+)")
_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                     r"fifteen|twenty|thirty|forty|fifty|hundred|thousand|single|both|dozen|"
                     r"once|twice|no|none)\b|[一二两三四五六七八九十百千万]", re.IGNORECASE)


def _after_number(units: str) -> re.Pattern[str]:
    """A number followed by a unit ("1.2 kg", "600g", "12 个小时", "2 to 4 extra days")."""
    return re.compile(rf"{_NUM}\s*(?:-|\s|个)?\s*(?:(?:more|extra|additional|full|further|"
                      rf"whole)\s+)?(?:{units})(?![a-z])", re.IGNORECASE)


@dataclass(frozen=True)
class AnswerType:
    """One kind of answer: ``asks`` matches a question that wants it, ``states`` a text that
    gives it."""

    name: str
    asks: re.Pattern[str]
    states: re.Pattern[str]


_CURRENCY = re.compile(
    r"[€£$¥￥]\s*\d|\d\s*(?:[€£$¥￥]|eur|gbp|usd|cny|rmb)\b|\d\s*(?:元|块|欧元|英镑|美元)"
    r"|\b(?:free|no charge|at no cost|no extra cost|nothing|refunded in full)\b"
    r"|免费|包邮|不收费|无需支付|不需要支付|\d+(?:\.\d+)?\s*(?:euros?|pounds?|dollars?|cents?|pence)\b"
    r"|\d+\s*%", re.IGNORECASE)

TYPES: tuple[AnswerType, ...] = (
    AnswerType(
        "price",
        re.compile(r"\bhow much (?:does|do|did|will|would|is|are|was|were|must|should|do i|"
                   r"does it)\b.*\b(?:cost|costs|charge|charged|pay|paid|spend|fee|fees|"
                   r"price|prices)\b|\bhow much is (?:the |a |an )?(?:\w+[- ]){0,4}"
                   r"(?:fee|charge|shipping|delivery|postage|price|cost)\b"
                   r"|\bwhat(?:\s+is|\s+are|'s|s)\s+(?:the )?(?:\w+[- ]){0,3}(?:price|fee|fees|cost|"
                   r"charge)s?\b|多少钱|价格是多少|价钱|费用是多少|收费多少|运费多少|运费是多少"
                   r"|要付多少|花多少|多少运费|多少费用", re.IGNORECASE),
        _CURRENCY),
    AnswerType(
        "weight",
        re.compile(r"\bweigh(?:s|t)?\b|\bhow heavy\b|多重|重量|几斤|多少(?:克|公斤|千克|斤)",
                   re.IGNORECASE),
        _after_number(r"kg|g|grams?|kilo(?:gram)?s?|lbs?|pounds?|oz|ounces?|克|千克|公斤|斤")),
    AnswerType(
        "power",
        re.compile(r"\bwatts?\b|\bwattage\b|\b(?:output|rated|motor|heating) power\b|功率|多少瓦",
                   re.IGNORECASE),
        _after_number(r"k?w|watts?|kilowatts?|瓦|千瓦")),
    AnswerType(
        "loudness",
        re.compile(r"\bnoise level\b|\bhow (?:loud|noisy)\b|\bdecibels?\b|\bdb\b|\bfan noise\b"
                   r"|噪音(?:有)?多大|噪音是多少|分贝", re.IGNORECASE),
        _after_number(r"db|db\(a\)|dba|decibels?|分贝")),
    AnswerType(
        "energy",
        re.compile(r"\bcalories\b|\bkcal\b|\bkilojoules?\b|卡路里|大卡|热量", re.IGNORECASE),
        _after_number(r"kcal|calories|kj|kilojoules?|卡路里|大卡|千卡|千焦")),
    AnswerType(
        "battery_capacity",
        re.compile(r"\bmah\b|\bbattery capacity\b|电池容量|多少毫安", re.IGNORECASE),
        _after_number(r"mah|wh|毫安时?")),
    AnswerType(
        "temperature",
        re.compile(r"\bwhat temperature\b|\bhow hot\b|\bwhich temperature\b|多少度|温度是多少"
                   r"|什么温度|几度", re.IGNORECASE),
        re.compile(r"\d\s*(?:°|º|degrees?|℃|℉|度)", re.IGNORECASE)),
    AnswerType(
        "percentage",
        re.compile(r"\bwhat percent(?:age)?\b|\bhow many percent\b|\bwhat share\b|百分之几"
                   r"|百分比是多少|几折|打几折", re.IGNORECASE),
        re.compile(r"\d\s*%|\bper ?cent\b|百分之|折", re.IGNORECASE)),
    AnswerType(
        "colour",
        re.compile(r"\b(?:what|which) colou?rs?\b|\bcolou?r (?:options|choices)\b|\bin (?:what|"
                   r"which) colou?r|\bavailable colou?rs\b|\bwhat shades?\b|什么颜色|哪些颜色"
                   r"|几种颜色|颜色有哪些|哪几种颜色|什么色", re.IGNORECASE),
        re.compile(r"\b(?:black|white|grey|gray|silver|gold|red|blue|green|yellow|orange|pink|"
                   r"purple|brown|beige|navy|charcoal|graphite|cream|ivory|teal|olive|khaki|"
                   r"rose|sand|slate|midnight|stone|colou?rs?|colou?red)\b|[黑白灰银红蓝绿黄橙粉紫棕]"
                   r"色|颜色", re.IGNORECASE)),
    AnswerType(
        "length",
        re.compile(r"\bhow long is (?:the |its |a )?(?:\w+[- ]){0,3}(?:cable|cord|lead|hose|"
                   r"strap|tube|wire)\b|\bhow (?:wide|tall|high|deep|big)\b|\bdimensions?\b"
                   r"|(?:线|绳|管|带)(?:有)?多长|多宽|多高|多大尺寸|尺寸是多少|长度是多少",
                   re.IGNORECASE),
        _after_number(r"mm|cm|m|metres?|meters?|inch(?:es)?|in|ft|feet|foot|毫米|厘米|公分|米|英寸")),
    AnswerType(
        "duration",
        re.compile(r"\bhow long (?:does|do|did|will|would|can|should|must|is|are|was|were|"
                   r"until|before|after)\b|\bhow long (?:have i|i have|do i get|have we)\b"
                   r"|\bhow much time (?:do|does|have|is)\b|\bhow many (?:seconds|minutes|hours|days|weeks|"
                   r"months|years|milliseconds)\b|\bhow (?:soon|quickly|fast)\b|多久|多长时间"
                   r"|多少(?:毫秒|秒|秒钟|分钟|小时|天|周|个月|年)|几(?:秒|分钟|个小时|小时|天|周"
                   r"|个月|年)", re.IGNORECASE),
        re.compile(_after_number(r"ms|milliseconds?|s|secs?|seconds?|mins?|minutes?|h|hrs?|"
                                 r"hours?|days?|nights?|weeks?|months?|years?|business days?|"
                                 r"working days?|毫秒|秒钟?|分钟|小时|钟头|天|日|周|星期|个月"
                                 r"|月|年|工作日").pattern
                   + r"|\b(?:immediately|instantly|straight away|right away|same day|next day|"
                   r"overnight|within (?:a|an|the) \w+|at once|no time limit|unlimited|"
                   r"never expires?|do not expire|does not expire|lifetime)\b|立即|马上|当天"
                   r"|次日|即时|实时|永久|不过期|长期有效", re.IGNORECASE)),
    AnswerType(
        "role_holder",
        re.compile(r"\bwho (?:is|was|are|were) (?:the |your |its )?(?:ceo|founders?|owners?|"
                   r"president|chair(?:man|woman|person)?|managing director|boss|head of)\b"
                   r"|\bwho (?:founded|owns|runs|started|created|set up|leads)\b|创始人|创办人"
                   r"|老板是谁|总裁是谁|CEO是谁|首席执行官是谁|谁创立|谁创办|谁创建",
                   re.IGNORECASE),
        re.compile(r"\b(?:founded|started|created|set up|owned|run|led|headed) by\b"
                   r"|\b(?:ceo|founders?|owners?|president|chair(?:man|woman|person)?|managing "
                   r"director|head)(?: is| was| are| were|,|:)\s+(?:[A-Z][\w'-]+)"
                   r"|(?:创始人|创办人|老板|总裁|CEO|首席执行官)(?:是|为|：|:)|由.{1,16}(?:创立|创办|创建)",
                   re.IGNORECASE)),
    AnswerType(
        "money_amount",
        re.compile(r"\b(?:revenues?|turnover|profits?|annual sales|sales figures?|net income|"
                   r"market (?:cap|capitali[sz]ation|value)|valuation)\b|营收|营业额|营业收入"
                   r"|年收入|利润|销售额|市值|估值", re.IGNORECASE),
        re.compile(_CURRENCY.pattern + r"|\d\s*(?:million|billion|thousand|mn|bn|m|k)\b"
                   r"|\d\s*(?:万|亿)", re.IGNORECASE)),
    AnswerType(
        "year",
        re.compile(r"\b(?:in )?(?:what|which) year\b|\bwhen (?:was|were|did) (?:\S+\s+){1,6}?"
                   r"(?:founded|established|started|launched|set up|opened|created|found|"
                   r"establish|start|launch|open|create)\b|哪一年|哪年|何年|什么时候成立|何时成立"
                   r"|成立于哪|成立时间", re.IGNORECASE),
        re.compile(r"(?<!\d)(?:1[5-9]\d\d|20\d\d)(?!\d)|\d{2,4}\s*年(?!代?[内里后前])"
                   r"|\b(?:\d+|a|one|two|three|ten|twenty) (?:years?|decades?) ago\b",
                   re.IGNORECASE)),
    AnswerType(
        "postal_address",
        re.compile(r"\b(?:postal|post|street|mailing|office|head ?office|headquarters'?|hq|"
                   r"warehouse|returns?|registered|business) address\b|\baddress (?:of|for) "
                   r"(?:the |your |its )?(?:office|head ?office|headquarters|hq|warehouse|"
                   r"returns?|company|shop|store)\b|\bwhat is (?:the |your |its )?address\b"
                   r"|(?<!邮箱)(?<!邮件)(?<!收货)(?<!配送)(?<!送货)地址(?:是什么|是多少|在哪|是哪)"
                   r"|什么地址", re.IGNORECASE),
        # case matters for the postcodes ("5928 VL", "SW1A 1AA", "NV 89502"), not the words
        re.compile(r"\b\d+[A-Za-z]?,?\s+(?:[A-Z][\w'.-]*\s+){0,3}(?i:street|st|road|rd|avenue|"
                   r"ave|lane|ln|way|boulevard|blvd|drive|dr|place|pl|square|sq|court|ct|"
                   r"parkway|highway|hwy)\b|\b[A-Z][\w'-]*(?:straat|weg|laan|plein|gracht|"
                   r"strasse|straße|gasse|allee)\s+\d+|\b(?i:street|road|avenue|lane|way)\s+\d+"
                   r"|\b\d{4}\s?[A-Z]{2}\b|\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b"
                   r"|\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b|\bP\.?O\.? box\s+\d+"
                   r"|(?:路|街|道|大道|弄|巷|里)\s*\d+\s*号|\d+\s*号(?:楼|院)?|邮编"),
    ),
    AnswerType(
        "count",
        re.compile(r"\bhow many\b|\bnumber of\b|多少(?:个|台|件|种|次|位|名|人|只|把|支|款|家"
                   r"|颗|张|条|部)|几(?:个|台|件|种|次|位|名|只|把|支|款|家|颗|张|条|部)",
                   re.IGNORECASE),
        _NUMBER),
)

# a looser type dropped when a stricter one is asked for too: "how many watts" is a power,
# "how long is the cable" a length
_YIELDS = {"count": None, "duration": "length"}  # None: to any other type


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def expected(question: str) -> tuple[AnswerType, ...]:
    """The answer types ``question`` asks for, in table order; empty when it asks for none
    this module can check. A measure named in the question wins over "how many" ("how
    many watts" is a power, "how long is the cable" a length)."""
    q = _norm(question)
    found = [t for t in TYPES if t.asks.search(q)]
    asked = {t.name for t in found}
    found = [t for t in found
             if not (t.name in _YIELDS and (asked - {t.name} if _YIELDS[t.name] is None
                                            else _YIELDS[t.name] in asked))]
    return tuple(found)


def satisfies(text: str, types: tuple[AnswerType, ...]) -> bool:
    """Whether ``text`` states an answer of one of ``types`` (always true when there are
    none)."""
    if not types:
        return True
    t = _norm(text)
    return any(a.states.search(t) for a in types)


def names(types: tuple[AnswerType, ...]) -> list[str]:
    """The types' names, for diagnostics."""
    return [t.name for t in types]
