#!/usr/bin/env python3
"""Builds demo/data/ from the hand-written sources in demo/gen/ (deterministic; run once, output committed).

  raw/devops_corpus.jsonl.zst  raw corpus: documents composed from sentences.txt + glossary.tsv, with
                               planted junk (nav menus, footers, ads, repeated lines, mojibake, English
                               spam, near-duplicate and exact-duplicate documents)
  sft/qa.jsonl                 SFT conversations (OpenAI messages layout), single- and multi-turn
  mcq/dev/devops.csv           5 multiple-choice questions (CMMLU layout) for the few-shot prefix
  mcq/test/devops.csv          the scored questions

Usage: python3 demo/gen/make_demo_data.py   (needs the zstd command-line tool)
"""
import csv
import io
import json
import os
import random
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data")
SEED = 20240607
TARGET_RAW_BYTES = 1_300_000

SERVICES = ["订单", "支付", "用户中心", "搜索", "推荐", "网关", "库存", "消息推送", "风控", "报表", "日志平台", "结算"]


def load_glossary():
    rows = []
    with open(os.path.join(HERE, "glossary.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            topic, term, definition = line.rstrip("\n").split("\t")
            rows.append((topic, term, definition))
    return rows


def load_sentences():
    topics, titles, order = {}, {}, []
    cur = None
    with open(os.path.join(HERE, "sentences.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("## "):
                parts = [p.strip() for p in line[3:].split("|")]
                cur = parts[0]
                titles[cur] = parts[1:]
                topics[cur] = []
                order.append(cur)
            elif line and not line.startswith("#"):
                topics[cur].append(line)
    return topics, titles, order


def load_handwritten_qa():
    rows = []
    with open(os.path.join(HERE, "qa_handwritten.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            q, a = line.rstrip("\n").split("\t")
            rows.append((q, a))
    return rows


def fill(rng, s):
    return (s.replace("{svc}", rng.choice(SERVICES))
             .replace("{n}", str(rng.randint(2, 9)))
             .replace("{m}", str(rng.randint(12, 480)))
             .replace("{p}", str(rng.randint(10, 70)))
             .replace("{ver}", "%d.%d.%d" % (rng.randint(1, 4), rng.randint(0, 20), rng.randint(0, 9))))


def mojibake(text):
    # UTF-8 bytes read as Latin-1: the classic garbling of Chinese pages.
    return text.encode("utf-8").decode("latin-1")


NAV = "首页 | 博客 | 下载 | 文档 | 社区\n关于我们 | 联系我们\n登录 | 注册"
FOOTERS = [
    "版权所有 © 2023 运维技术社区 保留所有权利\n备案号：京ICP备00000000号 | 联系我们 | 隐私政策",
    "上一篇：容器网络入门\n下一篇：监控系统选型\n相关推荐 | 热门文章 | 返回顶部",
    "扫码关注公众号，获取更多运维干货\n点赞 | 收藏 | 分享到微信",
]
ADS = [
    "限时优惠！加微信领取 DevOps 全套视频教程，私信领取免费资料，日赚千元不是梦，名额有限，先到先得。",
    "特价促销：云服务器首年一折，免费领取代金券，贷款秒批，无抵押贷款，详情请加微信咨询客服。",
    "网赚项目招募中，刷单返现日赚五百，私信领取入门教程，加微信立即开通。",
]
ENGLISH_SPAM = ("Best cheap hosting deals click here now free trial limited offer best price guaranteed "
                "visit our website today for more information about our amazing products and services. ")


def good_document(rng, topics, titles, gloss_by_topic, topic):
    pool = [fill(rng, s) for s in topics[topic]] + gloss_by_topic.get(topic, [])
    rng.shuffle(pool)
    n_par = rng.randint(3, 6)
    paras, i = [], 0
    for _ in range(n_par):
        k = rng.randint(2, 4)
        if i + k > len(pool):
            break
        paras.append("".join(pool[i:i + k]))
        i += k
    return "# " + rng.choice(titles[topic]) + "\n\n" + "\n\n".join(paras)


def add_junk(rng, text):
    r = rng.random()
    if r < 0.15:
        text = NAV + "\n\n" + text
    r = rng.random()
    if r < 0.20:
        text = text + "\n\n" + rng.choice(FOOTERS)
    r = rng.random()
    if r < 0.08:
        paras = text.split("\n\n")
        paras.insert(rng.randint(1, len(paras)), rng.choice(ADS))
        text = "\n\n".join(paras)
    r = rng.random()
    if r < 0.05:
        paras = text.split("\n\n")
        j = rng.randint(1, len(paras) - 1) if len(paras) > 1 else 0
        paras[j] = mojibake(paras[j])
        text = "\n\n".join(paras)
    return text


def junk_document(rng, topics, order):
    kind = rng.choice(["nav", "repeat", "ads", "mojibake", "english", "short", "kunkao"])
    if kind == "nav":
        return kind, "\n".join([NAV, "热门文章 | 猜你喜欢 | 阅读更多", "网站地图 | 免责声明 | 用户协议", "加载更多"])
    if kind == "repeat":
        line = fill(rng, rng.choice(topics[rng.choice(order)]))
        return kind, "\n".join([line] * rng.randint(8, 20))
    if kind == "ads":
        return kind, "\n\n".join(rng.sample(ADS, 3))
    if kind == "mojibake":
        t = rng.choice(order)
        return kind, mojibake("".join(fill(rng, s) for s in rng.sample(topics[t], 4)))
    if kind == "english":
        return kind, ENGLISH_SPAM * rng.randint(3, 8)
    if kind == "short":
        return kind, rng.choice(["测试", "暂无内容", "页面不存在", "404 Not Found"])
    return kind, "锟斤拷烫烫烫" * rng.randint(10, 30) + "\n" + fill(rng, rng.choice(topics[rng.choice(order)]))


def near_duplicate(rng, text):
    # Same article re-posted by another site: a word changed and a line appended.
    text = text.replace("我们", "团队", 1).replace("应当", "应该", 1)
    return text + "\n\n（本文转载自某技术博客，如有侵权请联系删除。）"


def make_corpus(gloss, topics, titles, order):
    rng = random.Random(SEED)
    gloss_by_topic = {}
    for topic, _, d in gloss:
        gloss_by_topic.setdefault(topic, []).append(d)
    # topics of the glossary without a sentence section borrow the closest one's titles
    docs, size, n = [], 0, 0
    good = []
    while size < TARGET_RAW_BYTES:
        n += 1
        r = rng.random()
        if r < 0.08:
            kind, text = junk_document(rng, topics, order)
            src = "junk-" + kind
        elif r < 0.14 and good:
            text = near_duplicate(rng, rng.choice(good))
            src = "repost"
        elif r < 0.17 and good:
            text = rng.choice(good)
            src = "mirror"
        else:
            topic = rng.choice(order)
            text = good_document(rng, topics, titles, gloss_by_topic, topic)
            good.append(text)
            text = add_junk(rng, text)
            src = "blog-" + topic
        rec = {"id": "doc-%05d" % n, "source": src, "text": text}
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        docs.append(line)
        size += len(line.encode("utf-8"))
    raw_dir = os.path.join(OUT, "raw")
    os.makedirs(raw_dir, exist_ok=True)
    data = "".join(docs).encode("utf-8")
    path = os.path.join(raw_dir, "devops_corpus.jsonl.zst")
    subprocess.run(["zstd", "-q", "-19", "-f", "-o", path], input=data, check=True)
    return len(docs), len(data)


def make_sft(gloss, handwritten):
    rng = random.Random(SEED + 1)
    convs = []

    def conv(*pairs):
        msgs = []
        for q, a in pairs:
            msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        return {"messages": msgs}

    for q, a in handwritten:
        convs.append(conv((q, a)))
    templates = ["什么是{t}？", "请解释一下{t}。", "{t}是什么意思？"]
    for i, (_, term, d) in enumerate(gloss):
        convs.append(conv((templates[0].format(t=term), d)))
        convs.append(conv((templates[1 + i % 2].format(t=term), d)))
    by_topic = {}
    for topic, term, d in gloss:
        by_topic.setdefault(topic, []).append((term, d))
    topics = sorted(by_topic)
    for k in range(60):
        items = by_topic[topics[k % len(topics)]]
        (t1, d1), (t2, d2) = rng.sample(items, 2)
        convs.append(conv(("什么是{}？".format(t1), d1), ("那{}呢？".format(t2), d2)))
    hw = dict(handwritten)
    seed_chat = [("你是谁", hw["你是谁"]),
                 ("Java 中 HashMap 和 Hashtable 有什么区别", hw["Java 中 HashMap 和 Hashtable 有什么区别"]),
                 ("线程安全代表什么", hw["线程安全代表什么"])]
    for _ in range(4):  # the seed's own three-turn conversation, as multi-turn data
        convs.append(conv(*seed_chat))
    rng.shuffle(convs)
    sft_dir = os.path.join(OUT, "sft")
    os.makedirs(sft_dir, exist_ok=True)
    with open(os.path.join(sft_dir, "qa.jsonl"), "w", encoding="utf-8") as f:
        for c in convs:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    return len(convs)


def swap_term(definition, old, new):
    # "volatile 关键字…" about 垃圾回收 -> "垃圾回收关键字…": no space after a Chinese term.
    if not new[-1].isascii() and definition.startswith(old + " "):
        return new + definition[len(old) + 1:]
    return definition.replace(old, new, 1)


def make_mcq(gloss):
    rng = random.Random(SEED + 2)
    by_topic = {}
    for topic, term, d in gloss:
        by_topic.setdefault(topic, []).append((term, d))
    qs = []
    for i, (topic, term, d) in enumerate(gloss):
        others = [x for x in by_topic[topic] if x[0] != term]
        if len(others) < 3:
            others += [(t, dd) for tp, t, dd in gloss if tp != topic and t != term]
        distract = rng.sample(others[:max(3, len(others))], 3)
        if i % 2 == 0:
            q = "下面这段描述说的是哪个概念？“" + d.replace(term, "它", 1) + "”"
            opts = [term] + [t for t, _ in distract]
        else:
            q = "关于{}，下列说法正确的是？".format(term)
            opts = [d] + [swap_term(dd, t, term) for t, dd in distract]
        correct = opts[0]
        rng.shuffle(opts)
        if len(set(opts)) < 4:
            continue
        qs.append((q, opts, "ABCD"[opts.index(correct)]))
    rng.shuffle(qs)
    for split, rows in (("dev", qs[:5]), ("test", qs[5:])):
        d = os.path.join(OUT, "mcq", split)
        os.makedirs(d, exist_ok=True)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["", "Question", "A", "B", "C", "D", "Answer"])
        for k, (q, o, a) in enumerate(rows):
            w.writerow([k, q] + o + [a])
        with open(os.path.join(d, "devops.csv"), "w", encoding="utf-8") as f:
            f.write(buf.getvalue())
    return len(qs) - 5


def main():
    gloss = load_glossary()
    topics, titles, order = load_sentences()
    n_docs, n_bytes = make_corpus(gloss, topics, titles, order)
    n_sft = make_sft(gloss, load_handwritten_qa())
    n_mcq = make_mcq(gloss)
    print("corpus: %d documents, %d bytes; sft: %d conversations; mcq: 5 dev + %d test" %
          (n_docs, n_bytes, n_sft, n_mcq))


if __name__ == "__main__":
    main()
