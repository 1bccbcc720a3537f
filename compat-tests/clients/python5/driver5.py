"""Driver for the 5.x gRPC Python client (PyPI rocketmq-python-client 5.1.2).

Every line printed on stdout is one JSON object. Commands:
  send      --endpoint H:P --topic T --count N [--tag TAG] [--body-prefix B] [--keys-prefix K]
            [--message-group G] [--groups M] [--delay-ms D]
  tx-send   --endpoint H:P --topic T --count N --decisions commit,rollback,unknown,...
            [--check-answer commit|rollback|unknown] [--linger S]
  simple    --endpoint H:P --topic T --group G --expect N [--invisible S] [--timeout-secs S]
            [--skip-ack-first] [--change-invisible S] [--linger S] [--batch B] [--tag-expr E]
            [--no-ack-odd] [--stop-after-received N]
  push      --endpoint H:P --topic T --group G --expect N [--timeout-secs S] [--fail-always]
            [--linger S] [--tag-expr E]
  load-send --endpoint H:P --topic T --seconds S --size B --threads K
  load-recv --endpoint H:P --topic T --group G --seconds S --threads K
send and simple take --tls to speak TLS (roots from GRPC_DEFAULT_SSL_ROOTS_FILE_PATH).
"""
import json
import sys
import threading
import time

from rocketmq import (ClientConfiguration, ConsumeResult, Credentials, FilterExpression,
                      Message, MessageListener, Producer, PushConsumer, SimpleConsumer,
                      TransactionChecker, TransactionResolution)

LOCK = threading.Lock()


def out(obj):
    with LOCK:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def args_of(argv):
    opts, i = {}, 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("--"):
            raise SystemExit(f"unexpected argument {a}")
        key = a[2:]
        if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            opts[key] = argv[i + 1]
            i += 2
        else:
            opts[key] = True
            i += 1
    return opts


def config(o):
    return ClientConfiguration(o["endpoint"], Credentials(), request_timeout=10)


def body_str(m):
    b = m.body
    return b.decode("utf-8", "replace") if isinstance(b, (bytes, bytearray)) else str(b)


def delivery(m, extra=None):
    d = {
        "body": body_str(m),
        "msgId": m.message_id,
        "tag": m.tag,
        "keys": list(m.keys or []),
        "group": m.message_group,
        "attempt": m.delivery_attempt,
        "props": dict(m.properties or {}),
        "recvTimestamp": int(time.time() * 1000),
    }
    if extra:
        d.update(extra)
    return d


def message_of(o, i):
    m = Message()
    m.topic = o["topic"]
    m.body = f"{o.get('body-prefix', 'msg')}-{i}".encode()
    m.tag = o.get("tag", "TagA")
    m.keys = f"{o.get('keys-prefix', 'key')}-{i}"
    m.add_property("idx", str(i))
    if "message-group" in o:
        groups = int(o.get("groups", 1))
        m.message_group = f"{o['message-group']}-{i % groups}" if groups > 1 else o["message-group"]
    if "delay-ms" in o:
        m.delivery_timestamp = int(time.time() * 1000) + int(o["delay-ms"])
    return m


def cmd_send(o):
    p = Producer(config(o), (o["topic"],), tls_enable=bool(o.get("tls")))
    p.startup()
    ok = True
    try:
        for i in range(int(o["count"])):
            m = message_of(o, i)
            try:
                r = p.send(m)
                out({"i": i, "msgId": r.message_id, "offset": r.offset, "status": "SEND_OK",
                     "sentTimestamp": int(time.time() * 1000)})
            except Exception as e:  # noqa: BLE001 - reported as a line
                ok = False
                out({"i": i, "error": str(e)})
    finally:
        p.shutdown()
    return 0 if ok else 1


class Checker(TransactionChecker):
    def __init__(self, answer):
        self.answer = answer

    def check(self, message):
        out({"check": body_str(message), "msgId": message.message_id})
        return {"commit": TransactionResolution.COMMIT,
                "rollback": TransactionResolution.ROLLBACK}.get(self.answer, TransactionResolution.TRANSACTION_RESOLUTION_UNSPECIFIED)


def cmd_tx_send(o):
    decisions = o["decisions"].split(",")
    p = Producer(config(o), (o["topic"],), checker=Checker(o.get("check-answer", "commit")))
    p.startup()
    ok = True
    try:
        for i in range(int(o["count"])):
            m = message_of(o, i)
            try:
                t = p.begin_transaction()
                r = p.send(m, t)
                d = decisions[i % len(decisions)]
                if d == "commit":
                    t.commit()
                elif d == "rollback":
                    t.rollback()
                out({"i": i, "msgId": r.message_id, "decision": d, "status": "SEND_OK"})
            except Exception as e:  # noqa: BLE001
                ok = False
                out({"i": i, "error": str(e)})
        time.sleep(float(o.get("linger", 0)))
    finally:
        p.shutdown()
    return 0 if ok else 1


def cmd_simple(o):
    expect = int(o["expect"])
    c = SimpleConsumer(config(o), o["group"], {o["topic"]: FilterExpression(o.get("tag-expr", "*"))},
                       await_duration=5, tls_enable=bool(o.get("tls")))
    c.startup()
    invisible = int(o.get("invisible", 15))
    deadline = time.time() + float(o.get("timeout-secs", 60))
    acked, seen = set(), set()
    change = o.get("change-invisible")
    try:
        stop_after = int(o.get("stop-after-received", 0))
        # One receive even with --expect 0: it makes the group known to the topic's queues
        # (a new group starts at their ends, Java's ConsumeInitMode.MAX).
        rounds = 0
        while (len(acked) < expect or rounds == 0) and time.time() < deadline:
            rounds += 1
            if stop_after and len(seen) >= stop_after:
                break
            try:
                msgs = c.receive(int(o.get("batch", 16)), invisible)
            except Exception as e:  # noqa: BLE001
                out({"receiveError": str(e)})
                time.sleep(0.5)
                continue
            for m in msgs:
                b = body_str(m)
                first = b not in seen
                seen.add(b)
                out(delivery(m, {"first": first}))
                if first and o.get("skip-ack-first"):
                    continue
                idx = int((m.properties or {}).get("idx", "0"))
                if o.get("no-ack-odd") and idx % 2 == 1:
                    continue
                if first and change is not None:
                    c.change_invisible_duration(m, int(change))
                    out({"changed": b})
                    continue
                c.ack(m)
                acked.add(b)
                out({"acked": b})
        out({"done": True, "distinct": len(acked)})
        linger_end = time.time() + float(o.get("linger", 0))
        while time.time() < linger_end:
            for m in c.receive(16, invisible):
                out(delivery(m, {"late": True}))
                c.ack(m)
    finally:
        c.shutdown()
    if stop_after:
        return 0 if len(seen) >= stop_after else 1
    return 0 if len(acked) >= expect else 1


class Listener(MessageListener):
    def __init__(self, fail_always):
        self.fail_always = fail_always
        self.distinct = set()
        self.cv = threading.Condition()

    def consume(self, message):
        out(delivery(message))
        if self.fail_always:
            return ConsumeResult.FAILURE
        with self.cv:
            self.distinct.add(body_str(message))
            self.cv.notify_all()
        return ConsumeResult.SUCCESS


def cmd_push(o):
    expect = int(o["expect"])
    listener = Listener(bool(o.get("fail-always")))
    c = PushConsumer(config(o), o["group"], listener, {o["topic"]: FilterExpression(o.get("tag-expr", "*"))})
    c.startup()
    deadline = time.time() + float(o.get("timeout-secs", 60))
    try:
        with listener.cv:
            while len(listener.distinct) < expect and time.time() < deadline:
                listener.cv.wait(0.2)
        out({"done": True, "distinct": len(listener.distinct)})
        time.sleep(float(o.get("linger", 0)))
    finally:
        c.shutdown()
    return 0 if len(listener.distinct) >= expect or listener.fail_always else 1


def cmd_load_send(o):
    size, seconds, threads = int(o.get("size", 1024)), float(o["seconds"]), int(o.get("threads", 4))
    p = Producer(config(o), (o["topic"],))
    p.startup()
    body = b"x" * size
    counts, errors = [0] * threads, [0] * threads
    end = time.time() + seconds

    def run(k):
        while time.time() < end:
            m = Message()
            m.topic = o["topic"]
            m.body = body
            m.tag = "load"
            try:
                p.send(m)
                counts[k] += 1
            except Exception:  # noqa: BLE001
                errors[k] += 1

    start = time.time()
    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.time() - start
    p.shutdown()
    out({"sent": sum(counts), "errors": sum(errors), "seconds": elapsed,
         "msgsPerSec": sum(counts) / elapsed})
    return 0


def cmd_load_recv(o):
    seconds, threads = float(o["seconds"]), int(o.get("threads", 4))
    c = SimpleConsumer(config(o), o["group"], {o["topic"]: FilterExpression("*")}, await_duration=2)
    c.startup()
    counts = [0] * threads
    end = time.time() + seconds

    def run(k):
        while time.time() < end:
            try:
                msgs = c.receive(32, 30)
            except Exception:  # noqa: BLE001
                continue
            for m in msgs:
                c.ack(m)
                counts[k] += 1

    start = time.time()
    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.time() - start
    c.shutdown()
    out({"received": sum(counts), "seconds": elapsed, "msgsPerSec": sum(counts) / elapsed})
    return 0


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    cmd, o = sys.argv[1], args_of(sys.argv[2:])
    fn = {"send": cmd_send, "tx-send": cmd_tx_send, "simple": cmd_simple, "push": cmd_push,
          "load-send": cmd_load_send, "load-recv": cmd_load_recv}.get(cmd)
    if fn is None:
        print(__doc__)
        return 2
    return fn(o)


if __name__ == "__main__":
    sys.exit(main())
