#!/usr/bin/env python3
"""Drives rmqd with the PyPI `rocketmq` client (the Apache C++ client 1.x in
`rocketmq==0.4.4`, or 2.x in `rocketmq-python-cvs==2.1.0.3`; both install the module
`rocketmq` with the same API).

Commands print one JSON object per line on stdout (see compat-tests/clients/README.md):
  send     --namesrv A --topic T --count N [--tag X] [--keys-prefix K] [--body-prefix B]
           [--mode sync|async|oneway|batch|orderly] [--delay-level L] [--order-keys M]
           [--group G]
  consume  --namesrv A --topic T --group G --expect N [--timeout S] [--tag-expr E]
           [--orderly] [--broadcast] [--fail-times K] [--stop-after N] [--linger S]
  pull     --namesrv A --topic T --group G --expect N [--timeout S]
  tx-send  --namesrv A --topic T --group G --count N --decisions commit,rollback,unknown...
           [--check-answer commit|rollback] [--linger S]        (C++ 2.x only)
"""

import argparse
import ctypes
import json
import os
import sys
import threading
import time

from rocketmq import client as rmq
from rocketmq.client import Message, Producer, PullConsumer, PushConsumer


def out(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def text(v):
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def log_dir():
    d = os.environ.get("RMQD_CLIENT_LOG_DIR") or os.path.join(os.environ.get("HOME", "/tmp"), "logs")
    os.makedirs(d, exist_ok=True)
    return d


def make_message(a, i):
    m = Message(a.topic)
    if a.keys_prefix:
        m.set_keys("%s-%d" % (a.keys_prefix, i))
    if a.tag:
        m.set_tags(a.tag)
    m.set_body("%s-%d" % (a.body_prefix, i))
    m.set_property("idx", str(i))
    if a.delay_level:
        m.set_delay_time_level(a.delay_level)
    return m


def set_producer_log(p):
    try:
        rmq.ffi_check(rmq.dll.SetProducerLogPath(p._handle, log_dir().encode()))
    except Exception:
        pass


def cmd_send(a):
    p = Producer(a.group)
    p.set_namesrv_addr(a.namesrv)
    set_producer_log(p)
    p.start()
    failures = 0
    done = threading.Semaphore(0)
    try:
        if a.mode == "batch":
            step = max(1, a.batch_size)
            for start in range(0, a.count, step):
                msgs = [make_message(a, i) for i in range(start, min(a.count, start + step))]
                r = p.send_batch(msgs)
                out({"i": start, "n": len(msgs), "status": int(r.status), "msgId": text(r.msg_id), "queueOffset": r.offset})
        for i in range(a.count if a.mode != "batch" else 0):
            m = make_message(a, i)
            try:
                if a.mode == "sync":
                    r = p.send_sync(m)
                    out({"i": i, "status": int(r.status), "msgId": text(r.msg_id), "queueOffset": r.offset})
                elif a.mode == "oneway":
                    p.send_oneway(m)
                    out({"i": i, "status": 0, "oneway": True})
                elif a.mode == "orderly":
                    key = i % max(1, a.order_keys)
                    r = p.send_orderly(m, key, queue_selector=lambda size, msg, arg: int(arg) % size)
                    out({"i": i, "status": int(r.status), "msgId": text(r.msg_id), "queueOffset": r.offset, "orderKey": key})
                elif a.mode == "async":
                    def ok(r, i=i):
                        out({"i": i, "status": int(r.status), "msgId": text(r.msg_id), "queueOffset": r.offset})
                        done.release()

                    def fail(e, i=i):
                        out({"i": i, "error": str(e)})
                        done.release()

                    p.send_async(m, ok, fail)
            except Exception as e:  # one failed send is reported, the run goes on
                failures += 1
                out({"i": i, "error": str(e)})
        if a.mode == "async":
            deadline = time.time() + a.timeout
            for _ in range(a.count):
                if not done.acquire(timeout=max(0.1, deadline - time.time())):
                    out({"error": "async send callbacks missing"})
                    failures += 1
                    break
        if a.mode == "oneway":
            # The C++ client buffers oneway sends; give them time to leave before shutdown.
            time.sleep(3)
    finally:
        p.shutdown()
    return 0 if failures == 0 else 1


def recv_json(msg):
    return {
        "topic": text(msg.topic),
        "body": text(msg.body),
        "tags": text(msg.tags),
        "keys": text(msg.keys),
        "msgId": text(msg.id),
        "queueId": msg.queue_id,
        "queueOffset": msg.queue_offset,
        "reconsumeTimes": msg.reconsume_times,
        "idx": text(msg.get_property("idx")),
        "storeTimestamp": msg.store_timestamp,
        "bornTimestamp": msg.born_timestamp,
        "recvTimestamp": int(time.time() * 1000),
    }


def cmd_consume(a):
    model = rmq.MessageModel.BROADCASTING if a.broadcast else rmq.MessageModel.CLUSTERING
    c = PushConsumer(a.group, orderly=a.orderly, message_model=model)
    c.set_namesrv_addr(a.namesrv)
    try:
        rmq.ffi_check(rmq.dll.SetPushConsumerLogPath(c._handle, log_dir().encode()))
    except Exception:
        pass
    if a.instance:
        c.set_instance_name(a.instance)
    seen = set()
    deliveries = {}
    lock = threading.Lock()
    stop = threading.Event()

    def on_message(msg):
        rec = recv_json(msg)
        key = rec["msgId"]
        with lock:
            n = deliveries.get(key, 0)
            deliveries[key] = n + 1
            if a.stop_after and len(seen) >= a.stop_after:
                # Refuse beyond the quota so the rest stays unconsumed for the next run.
                raise RuntimeError("quota reached")
            rec["delivery"] = n
            out(rec)
            if n < a.fail_times:
                raise RuntimeError("asked for a retry")
            seen.add(rec["body"])
            if len(seen) >= a.expect or (a.stop_after and len(seen) >= a.stop_after):
                stop.set()

    c.subscribe(a.topic, on_message, a.tag_expr)
    c.start()
    stop.wait(a.timeout)
    time.sleep(a.linger)
    with lock:
        n = len(seen)
    out({"done": True, "distinct": n})
    sys.stdout.flush()
    # C++ 2.x may crash while shutting a push consumer down; the result is already out.
    c.shutdown()
    return 0 if n >= min(a.expect, a.stop_after or a.expect) else 1


def cmd_pull(a):
    c = PullConsumer(a.group)
    c.set_namesrv_addr(a.namesrv)
    c.start()
    seen = set()
    deadline = time.time() + a.timeout
    try:
        while time.time() < deadline and len(seen) < a.expect:
            for msg in c.pull(a.topic):
                rec = recv_json(msg)
                out(rec)
                seen.add(rec["msgId"])
            time.sleep(0.2)
    finally:
        c.shutdown()
    out({"done": True, "distinct": len(seen)})
    return 0 if len(seen) >= a.expect else 1


# C++ 2.x transaction C API (CProducer.h): not wrapped by the Python package.
COMMIT, ROLLBACK, UNKNOWN = 0, 1, 2
CHECK_FUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
EXEC_FUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


def cmd_tx_send(a):
    dll = rmq.dll
    if not hasattr(dll, "CreateTransactionProducer"):
        out({"error": "this client has no transaction API"})
        return 2
    states = {"commit": COMMIT, "rollback": ROLLBACK, "unknown": UNKNOWN}
    decisions = [states[d] for d in a.decisions.split(",")]
    answer = states[a.check_answer]
    checks = []

    def on_check(producer, msg_ext, data):
        dll.GetMessageBody.restype = ctypes.c_char_p
        body = text(dll.GetMessageBody(ctypes.c_void_p(msg_ext)))
        checks.append(body)
        out({"check": body, "answer": a.check_answer})
        return answer

    current = {"state": COMMIT}

    def on_execute(producer, msg, data):
        return current["state"]

    check_cb = CHECK_FUNC(on_check)
    exec_cb = EXEC_FUNC(on_execute)
    dll.CreateTransactionProducer.restype = ctypes.c_void_p
    dll.CreateTransactionProducer.argtypes = [ctypes.c_char_p, CHECK_FUNC, ctypes.c_void_p]
    p = dll.CreateTransactionProducer(a.group.encode(), check_cb, None)
    dll.SetProducerNameServerAddress.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    dll.SetProducerNameServerAddress(p, a.namesrv.encode())
    dll.SetProducerLogPath.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    dll.SetProducerLogPath(p, log_dir().encode())
    dll.StartProducer.argtypes = [ctypes.c_void_p]
    dll.StartProducer(p)
    dll.SendMessageTransaction.argtypes = [ctypes.c_void_p, ctypes.c_void_p, EXEC_FUNC, ctypes.c_void_p, ctypes.POINTER(rmq._CSendResult)]
    failures = 0
    for i in range(a.count):
        current["state"] = decisions[i % len(decisions)]
        m = make_message(a, i)
        res = rmq._CSendResult()
        rc = dll.SendMessageTransaction(p, m._handle, exec_cb, None, ctypes.byref(res))
        if rc != 0:
            failures += 1
            out({"i": i, "error": "SendMessageTransaction returned %d" % rc})
        else:
            out({"i": i, "status": res.sendStatus, "msgId": text(res.msgId), "queueOffset": res.offset,
                 "decision": a.decisions.split(",")[i % len(decisions)]})
    # Stay up so the broker can call back about undecided transactions.
    time.sleep(a.linger)
    out({"done": True, "checks": len(checks)})
    dll.ShutdownProducer.argtypes = [ctypes.c_void_p]
    dll.ShutdownProducer(p)
    return 0 if failures == 0 else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["send", "consume", "pull", "tx-send"])
    ap.add_argument("--namesrv", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", default="CompatProducer")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--tag", default="TagA")
    ap.add_argument("--keys-prefix", default="key")
    ap.add_argument("--body-prefix", default="msg")
    ap.add_argument("--mode", default="sync", choices=["sync", "async", "oneway", "batch", "orderly"])
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--delay-level", type=int, default=0)
    ap.add_argument("--order-keys", type=int, default=1)
    ap.add_argument("--expect", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--tag-expr", default="*")
    ap.add_argument("--orderly", action="store_true")
    ap.add_argument("--broadcast", action="store_true")
    ap.add_argument("--fail-times", type=int, default=0)
    ap.add_argument("--stop-after", type=int, default=0)
    ap.add_argument("--linger", type=float, default=0)
    ap.add_argument("--instance", default="")
    ap.add_argument("--decisions", default="commit")
    ap.add_argument("--check-answer", default="commit", choices=["commit", "rollback", "unknown"])
    a = ap.parse_args()
    handlers = {"send": cmd_send, "consume": cmd_consume, "pull": cmd_pull, "tx-send": cmd_tx_send}
    code = handlers[a.command](a)
    sys.stdout.flush()
    # Skip interpreter teardown: the C++ clients' static destructors can crash after a
    # correct run, and the exit status must report the run, not the teardown.
    os._exit(code)


if __name__ == "__main__":
    main()
