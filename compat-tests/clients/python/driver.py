#!/usr/bin/env python3
"""Drives rmqd with the PyPI `rocketmq` client: the Apache C++ client 1.x in
`rocketmq==0.4.4`, or 2.1 in `rocketmq-python-cvs==2.1.0.3`. Both install the module
`rocketmq` with the same Python API, so one driver serves both venvs.

Commands print one JSON object per line on stdout (contract: compat-tests/clients/README.md):
  send          --namesrv A --topic T --count N [--tag X] [--keys-prefix K] [--body-prefix B]
                [--mode sync|async|oneway|batch|orderly] [--queue Q] [--delay-level L]
                [--order-key-count M | --order-keys M] [--group G] [--batch-size S]
                [--timer-delay-sec S] [--timer-delay-ms M] [--timer-deliver-in-ms M]
  consume       --namesrv A --topic T --group G --expect N [--timeout-secs S | --timeout S]
                [--tag-expr E] [--orderly] [--broadcast] [--from first|last] [--fail-always]
                [--fail-times K] [--stop-after N] [--linger S] [--instance NAME]
                [--count-prefix P]   (only bodies starting with P count towards N)
  pull          --namesrv A --topic T --group G --expect N [--timeout S]
  create-topic  --namesrv A --topic T --queues N   (raw remoting; the C++ API has no admin calls)
  tx-send       --namesrv A --topic T --group G --count N --decisions commit,rollback,unknown...
                [--check-answer commit|rollback|unknown] [--linger S]      (C++ 2.x only)
"""

import argparse
import ctypes
import json
import os
import re
import socket
import struct
import sys
import threading
import time


def out(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def note(text):
    sys.stderr.write(json.dumps({"note": text}) + "\n")
    sys.stderr.flush()


def log_dir():
    d = os.environ.get("RMQD_CLIENT_LOG_DIR") or os.path.join(os.environ.get("HOME", "/tmp"), "logs")
    os.makedirs(d, exist_ok=True)
    return d


# The C++ 2.1 client starts its logger in the constructor of a push consumer, before
# SetPushConsumerLogPath can be called, and writes to /logs/rocketmq-client/ at the
# filesystem root unless ROCKETMQ_CLIENT_LOG_DIR is set. Set it before the library loads.
os.environ.setdefault("ROCKETMQ_CLIENT_LOG_DIR", log_dir())

from rocketmq import client as rmq  # noqa: E402  (after the environment is set up)
from rocketmq.client import Message, Producer, PullConsumer, PushConsumer  # noqa: E402

STATUS_NAMES = {0: "SEND_OK", 1: "FLUSH_DISK_TIMEOUT", 2: "FLUSH_SLAVE_TIMEOUT", 3: "SLAVE_NOT_AVAILABLE"}


def status_name(s):
    return STATUS_NAMES.get(int(s), str(int(s)))


def text(v):
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def err(e):
    """The C++ wrapper raises exception classes whose message is sometimes empty."""
    msg = str(e)
    return "%s: %s" % (type(e).__name__, msg) if msg else type(e).__name__


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
    # Timer messages (5.x properties): the C++ clients have no setter, a property does.
    if a.timer_delay_sec:
        m.set_property("TIMER_DELAY_SEC", str(a.timer_delay_sec))
    if a.timer_delay_ms:
        m.set_property("TIMER_DELAY_MS", str(a.timer_delay_ms))
    if a.timer_deliver_in_ms:
        m.set_property("TIMER_DELIVER_MS", str(int(time.time() * 1000) + a.timer_deliver_in_ms))
    return m


TIMER_PROPS = ["TIMER_DELAY_SEC", "TIMER_DELAY_MS", "TIMER_DELIVER_MS", "TIMER_OUT_MS",
               "TIMER_ENQUEUE_MS", "TIMER_DEQUEUE_MS", "TIMER_ROLL_TIMES", "REAL_TOPIC"]


def set_producer_log(p):
    try:
        rmq.ffi_check(rmq.dll.SetProducerLogPath(p._handle, log_dir().encode()))
    except Exception:
        pass


class Selector:
    """A MessageQueueSelector: `--queue Q` picks queue Q (modulo the queue count, as the
    C API gives no way to refuse), `--order-key-count M` picks (i % M) % queueCount.
    The wrapper hands the selector a pointer to the C int it was given as the argument."""

    def __init__(self):
        self.chosen = None

    def __call__(self, size, _msg, arg):
        value = ctypes.cast(arg, ctypes.POINTER(ctypes.c_int))[0]
        self.chosen = value % size
        return self.chosen


def ack(i, r, queue_id=None, **extra):
    line = {"i": i, "status": status_name(r.status), "msgId": text(r.msg_id), "queueOffset": r.offset}
    # The C API's send result has no queue id; it is known only when the driver chose it.
    if queue_id is not None:
        line["queueId"] = queue_id
    line.update(extra)
    return line


def selector_arg(a, i):
    """The int handed to the queue selector, or None when the client picks the queue."""
    if a.queue is not None:
        return a.queue
    if a.mode == "orderly" or a.order_key_count:
        return i % max(1, a.order_key_count or 1)
    return None


def set_credentials(client, a):
    """ACL: the C++ client signs every request (ClientRPCHook) once credentials are set."""
    if a.access_key:
        client.set_session_credentials(a.access_key, a.secret_key, "LOCAL")


def cmd_send(a):
    if (a.queue is not None or a.order_key_count) and a.mode in ("async", "batch"):
        out({"error": "the C API has no %s send to a chosen queue" % a.mode})
        return 2
    p = Producer(a.group)
    p.set_namesrv_addr(a.namesrv)
    set_credentials(p, a)
    set_producer_log(p)
    p.start()
    failures = 0
    done = threading.Semaphore(0)
    async_failed = []  # indexes whose async send called back with an exception
    if a.mode == "batch":
        step = max(1, a.batch_size)
        for start in range(0, a.count, step):
            msgs = [make_message(a, i) for i in range(start, min(a.count, start + step))]
            try:
                r = p.send_batch(msgs)
                # One result for the whole batch: msgId is the comma-joined list of ids.
                out(ack(start, r, n=len(msgs)))
            except Exception as e:
                failures += 1
                out({"i": start, "n": len(msgs), "error": err(e)})
    pending = 0
    for i in range(a.count if a.mode != "batch" else 0):
        m = make_message(a, i)
        arg = selector_arg(a, i)
        try:
            if arg is not None and a.mode in ("sync", "orderly"):
                sel = Selector()
                r = p.send_orderly(m, arg, queue_selector=sel)
                out(ack(i, r, queue_id=sel.chosen))
            elif arg is not None and a.mode == "oneway":
                p.send_oneway_orderly(m, arg, queue_selector=Selector())
                out({"i": i, "status": "SEND_OK", "oneway": True})
            elif a.mode == "sync":
                out(ack(i, p.send_sync(m)))
            elif a.mode == "oneway":
                # Oneway has no acknowledgement: the line says it left the client.
                p.send_oneway(m)
                out({"i": i, "status": "SEND_OK", "oneway": True})
            elif a.mode == "async":

                def ok(r, i=i):
                    out(ack(i, r))
                    done.release()

                def fail(e, i=i):
                    async_failed.append(i)
                    out({"i": i, "error": err(e)})
                    done.release()

                p.send_async(m, ok, fail)
                pending += 1
        except Exception as e:  # one failed send is reported, the run goes on
            failures += 1
            out({"i": i, "error": err(e)})
    if a.mode == "async":
        deadline = time.time() + a.timeout
        for _ in range(pending):
            if not done.acquire(timeout=max(0.1, deadline - time.time())):
                out({"error": "async send callbacks missing"})
                failures += 1
                break
        failures += len(async_failed)
    if a.mode == "oneway":
        # The C++ client buffers oneway sends; give them time to leave before shutdown.
        time.sleep(3)
    code = 0 if failures == 0 else 1
    # The C++ 1.x producer can abort in shutdown after oneway sends (boost::thread_interrupted).
    exit_with_on_crash(code)
    p.shutdown()
    return code


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
        "timer": {k: text(msg.get_property(k)) for k in TIMER_PROPS if text(msg.get_property(k))},
    }


_crash_handler = None


def exit_with_on_crash(code):
    """Makes a segfault from here on exit with `code`: the C++ 2.1 client crashes while
    shutting a push consumer down after a correct run, and the exit status must report
    the run. The handler is a ctypes callback that calls _exit; ctypes releases the GIL
    around foreign calls, so the crashing thread can take it."""
    global _crash_handler
    handler_type = ctypes.CFUNCTYPE(None, ctypes.c_int)

    def on_crash(_sig):
        sys.stderr.write('{"note": "the client crashed during shutdown (after the run)"}\n')
        os._exit(code)

    _crash_handler = handler_type(on_crash)  # keep a reference: the C side holds a pointer
    libc = ctypes.CDLL(None)
    libc.signal.restype = ctypes.c_void_p
    libc.signal.argtypes = [ctypes.c_int, handler_type]
    for sig in (11, 6, 7):  # SIGSEGV, SIGABRT, SIGBUS
        libc.signal(sig, _crash_handler)


def cmd_consume(a):
    if a.consume_from == "last":
        note("the C++ client API cannot set consume-from; it uses CONSUME_FROM_LAST_OFFSET, "
             "for a new group the broker decides (offset 0 while the queue head is in memory)")
    else:
        note("the C++ client API cannot set consume-from; CONSUME_FROM_LAST_OFFSET is used and a "
             "new group starts at offset 0 only if the broker answers so (Java brokers do while "
             "the queue head is in memory)")
    model = rmq.MessageModel.BROADCASTING if a.broadcast else rmq.MessageModel.CLUSTERING
    c = PushConsumer(a.group, orderly=a.orderly, message_model=model)
    c.set_namesrv_addr(a.namesrv)
    set_credentials(c, a)
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
        # Deliveries are counted per body: some clients (ali-ons, Rust) see a retried
        # message under a new msgId, and the drivers' bodies are unique per message.
        key = rec["body"]
        with lock:
            quota_reached = a.stop_after and len(seen) >= a.stop_after
        if quota_reached:
            # Hold the message past the quota: never acknowledged, so its offset is never
            # committed and the next consumer of the group gets it.
            time.sleep(3600)
        with lock:
            n = deliveries.get(key, 0)
            deliveries[key] = n + 1
            rec["delivery"] = n
            out(rec)
            if a.fail_always or n < a.fail_times:
                # The wrapper ignores the listener's return value: raising is how a
                # Python listener asks for RECONSUME_LATER.
                raise RuntimeError("asked for a retry")
            if rec["body"].startswith(a.count_prefix):
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
    code = 0 if n >= min(a.expect, a.stop_after or a.expect) else 1
    if a.stop_after:
        # Leave like a crashed consumer: held messages stay unacknowledged.
        sys.stdout.flush()
        os._exit(code)
    exit_with_on_crash(code)
    # Shut down (it commits the consumed offsets); a C++ 2.x crash here still exits `code`.
    c.shutdown()
    return code


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
    except Exception as e:
        out({"error": err(e)})
    finally:
        c.shutdown()
    out({"done": True, "distinct": len(seen)})
    return 0 if len(seen) >= a.expect else 1


# --- raw remoting, for create-topic (the C++ client has no admin API) ---------------------

def remoting(addr, code, ext, timeout=5.0):
    """One JSON-header request; returns (code, remark, body)."""
    header = json.dumps({"code": code, "language": "JAVA", "version": 409, "opaque": 1, "flag": 0,
                         "extFields": ext}).encode()
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">II", 4 + len(header), len(header)) + header)

        def read(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise ConnectionError("connection closed by %s" % addr)
                buf += chunk
            return buf

        (total,) = struct.unpack(">I", read(4))
        frame = read(total)
    hlen = struct.unpack(">I", frame[:4])[0] & 0xFFFFFF
    h = json.loads(frame[4:4 + hlen])
    return h.get("code", -1), h.get("remark") or "", frame[4 + hlen:]


def broker_addrs(namesrv):
    """Broker addresses from GET_BROKER_CLUSTER_INFO (106). The body is fastjson, whose map
    keys may be bare numbers ({0:"ip:port"}), so the addresses are picked out by pattern."""
    code, remark, body = remoting(namesrv, 106, {})
    if code != 0:
        raise RuntimeError("GET_BROKER_CLUSTER_INFO: code %s %s" % (code, remark))
    return sorted(set(re.findall(r'"(\d{1,3}(?:\.\d{1,3}){3}:\d+)"', body.decode("utf-8", "replace"))))


def cmd_create_topic(a):
    q = str(a.queues)
    ext = {"topic": a.topic, "defaultTopic": "TBW102", "readQueueNums": q, "writeQueueNums": q,
           "perm": "6", "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false"}
    try:
        addrs = broker_addrs(a.namesrv)
        if not addrs:
            out({"error": "the name server knows no broker"})
            return 1
        failures = 0
        for addr in addrs:
            code, remark, _ = remoting(addr, 17, ext)
            if code == 0:
                out({"broker": addr, "topic": a.topic, "queues": a.queues, "status": "OK"})
            else:
                failures += 1
                out({"broker": addr, "error": "code %s: %s" % (code, remark)})
        return 0 if failures == 0 else 1
    except Exception as e:
        out({"error": err(e)})
        return 1


# --- C++ 2.x transaction C API (CProducer.h): not wrapped by the Python package ------------
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
    dll.SendMessageTransaction.argtypes = [ctypes.c_void_p, ctypes.c_void_p, EXEC_FUNC, ctypes.c_void_p,
                                           ctypes.POINTER(rmq._CSendResult)]
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
            out({"i": i, "status": status_name(res.sendStatus), "msgId": text(res.msgId), "queueOffset": res.offset,
                 "decision": a.decisions.split(",")[i % len(decisions)]})
    # Stay up so the broker can call back about undecided transactions.
    time.sleep(a.linger)
    out({"done": True, "checks": len(checks)})
    dll.ShutdownProducer.argtypes = [ctypes.c_void_p]
    dll.ShutdownProducer(p)
    return 0 if failures == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["send", "consume", "pull", "create-topic", "tx-send"])
    ap.add_argument("--namesrv", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", default=None)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--tag", default="TagA")
    ap.add_argument("--keys-prefix", default="key")
    ap.add_argument("--body-prefix", default="msg")
    ap.add_argument("--mode", default="sync", choices=["sync", "async", "oneway", "batch", "orderly"])
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--queue", type=int, default=None)
    ap.add_argument("--delay-level", type=int, default=0)
    ap.add_argument("--timer-delay-sec", type=int, default=0)
    ap.add_argument("--timer-delay-ms", type=int, default=0)
    ap.add_argument("--timer-deliver-in-ms", type=int, default=0)
    ap.add_argument("--order-key-count", "--order-keys", dest="order_key_count", type=int, default=0)
    ap.add_argument("--queues", type=int, default=4)
    ap.add_argument("--expect", type=int, default=1)
    ap.add_argument("--timeout-secs", "--timeout", dest="timeout", type=float, default=60)
    ap.add_argument("--tag-expr", default="*")
    ap.add_argument("--orderly", action="store_true")
    ap.add_argument("--broadcast", action="store_true")
    ap.add_argument("--from", dest="consume_from", default="first", choices=["first", "last"])
    ap.add_argument("--fail-always", action="store_true")
    ap.add_argument("--fail-times", type=int, default=0)
    ap.add_argument("--stop-after", type=int, default=0)
    ap.add_argument("--linger", type=float, default=0)
    ap.add_argument("--instance", default="")
    ap.add_argument("--count-prefix", default="")
    ap.add_argument("--decisions", default="commit")
    ap.add_argument("--access-key", default="")
    ap.add_argument("--secret-key", default="")
    ap.add_argument("--check-answer", default="commit", choices=["commit", "rollback", "unknown"])
    a = ap.parse_args()
    if a.group is None:
        a.group = {"consume": "CompatConsumer", "pull": "CompatConsumer", "tx-send": "CompatTxProducer"}.get(
            a.command, "CompatProducer")
    handlers = {"send": cmd_send, "consume": cmd_consume, "pull": cmd_pull, "create-topic": cmd_create_topic,
                "tx-send": cmd_tx_send}
    try:
        code = handlers[a.command](a)
    except Exception as e:  # e.g. start() failing: still one JSON line and a bounded exit
        out({"error": err(e)})
        code = 1
    sys.stdout.flush()
    # Skip interpreter teardown: the C++ clients' static destructors can crash after a
    # correct run, and the exit status must report the run, not the teardown.
    os._exit(code)


if __name__ == "__main__":
    main()
