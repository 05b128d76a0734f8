"""Answer sentences for measuring the citation-support threshold (data only).

Each entry is (question id in knowledge/eval/retrieval.jsonl, a sentence a correct answer
would contain, written the way a small model answers: close to the source, lightly
reworded, in the question's language). ``bench/rag_thresholds_bench.py support`` scores each
sentence against the chunks retrieved for its question: the labelled evidence chunk
(supporting) and the retrieved chunks that neither hold the evidence nor state the gold facts
(non-supporting).
"""

from __future__ import annotations

SENTENCES: list[tuple[str, str]] = [
    # English answers from English documents
    ("q001", "You can return most items within 30 days of delivery."),
    ("q003", "You must hand the parcel to the carrier within 14 days after you get the return number."),
    ("q009", "Ask your bank for the refund's Acquirer Reference Number (ARN) to trace it."),
    ("q012", "Express delivery in the EU costs €12.95 and takes 1 to 2 business days."),
    ("q013", "UK standard delivery is free for orders of £45 or more."),
    ("q020", "Your card is only charged when the pre-ordered item is dispatched."),
    ("q026", "You get 10 backup codes when you turn on two-factor authentication."),
    ("q029", "A Brightcart gift card is valid for 3 years from the date of purchase."),
    ("q033", "US customers receive a sales receipt instead of a VAT invoice."),
    ("q036", "Customer Relations gives a final written answer within 15 business days."),
    ("q039", "The battery counts as defective if it holds less than 70% of its capacity."),
    ("q045", "Do not use a pot wider than 22 cm on the Ember stove."),
    ("q050", "In hard-water areas you should descale the kettle every 4 weeks."),
    ("q055", "Hold the case button for 15 seconds until the light flashes amber three times."),
    ("q059", "Hold the side button for 6 seconds until the LED flashes blue quickly."),
    ("q066", "The first full charge of the Orbit S8 takes about 5 hours."),
    ("q068", "Brightcart was founded in 2017 in Venlo, the Netherlands."),
    ("q073", "A business account can have up to 20 users."),
    # Chinese answers from Chinese documents
    ("q086", "缺货时换货申请最长可以保留 30 天。"),
    ("q087", "中国大陆订单实付满 ¥299 免标准快递运费。"),
    ("q094", "单笔订单满 ¥600 才可以使用花呗分期。"),
    ("q099", "发票抬头写错了，可以在开票后 90 天内申请重开一次。"),
    ("q105", "注销账户后，订单和发票记录会保留 7 年。"),
    ("q106", "亮购积分自到账之日起 24 个月内有效。"),
    ("q116", "中文客服每天 09:00 至 21:00 在线。"),
    ("q131", "远径 2 帐篷整套重量为 2.1 公斤。"),
    ("q143", "滤网的使用寿命大约是 6 到 8 个月。"),
    ("q145", "清风 300 适用于最大 36 平方米的房间。"),
    # Chinese answers from English documents
    ("q017", "美国订单满 59 美元即可免标准运费。"),
    ("q025", "重置密码的链接有效期为 60 分钟，而且只能使用一次。"),
    ("q031", "电子礼品卡最多可以提前 90 天预约发送。"),
    ("q049", "露营炉的密封圈每两年更换一次。"),
    ("q056", "在充电盒里充电 10 分钟大约可以听 1 小时。"),
    ("q062", "英国版智能插座的最大负载是 13 A、3120 W。"),
    ("q070", "亮购焕新商品有 12 个月的保修。"),
    ("q077", "企业订单满 250 欧元、220 英镑或 270 美元可以免标准运费。"),
    # English answers from Chinese documents
    ("q104", "After you ask to delete your account there is a 14-day cooling-off period, and logging in again cancels it."),
    ("q108", "You need at least 500 points in your account before you can use them."),
    ("q109", "To reach Gold status you must spend €1500 within twelve months."),
    ("q124", "For change-of-mind returns in mainland China the customer pays ¥15, which is deducted from the refund."),
    ("q128", "Hold the recharge and clean buttons together for 10 seconds to factory reset the Orbit S8."),
    ("q134", "Once practised, one person can pitch the Trailhead 2 in about 10 minutes."),
    ("q137", "Leave at least 15 cm between the back of the air fryer and the wall."),
    ("q146", "When the battery is empty you can still listen by plugging in the audio cable."),
]
