#!/usr/bin/env node
// Drives rmqd with the npm `ali-ons` 3.12.0 client (a pure JavaScript remoting client).
// Same command line and JSON-lines output as the other drivers (contract:
// compat-tests/clients/README.md):
//   send          --namesrv A --topic T --count N [--tag X] [--keys-prefix K] [--body-prefix B]
//                 [--mode sync|async|orderly] [--queue Q] [--delay-level L]
//                 [--order-key-count M | --order-keys M] [--group G]
//                 [--timer-delay-sec S] [--timer-delay-ms M] [--timer-deliver-in-ms M]
//   consume       --namesrv A --topic T --group G --expect N [--timeout-secs S | --timeout S]
//                 [--tag-expr E] [--broadcast] [--from first|last] [--fail-always]
//                 [--fail-times K] [--stop-after N] [--linger S] [--instance NAME]
//                 [--count-prefix P]   (only bodies starting with P count towards N)
//                 [--sql EXPR]   (an SQL92 selector instead of the tag expression)
//   create-topic  --namesrv A --topic T --queues N   (raw remoting: ali-ons has no admin API)
// ali-ons has no oneway or batch send, no orderly or pull consumer and no transactions:
// those report an error line and exit 2. It does not create topics on send either, so a
// topic must exist first (create-topic, or the harness's create_topic).
// `require('ali-ons')` is resolved through NODE_PATH (<clients>/node/node_modules).
'use strict';

const net = require('net');

const FLAGS = new Set(['orderly', 'broadcast', 'failAlways']);
// Other spellings of one option (the tests' older names on the right).
const ALIASES = { timeoutSecs: 'timeout', orderKeyCount: 'orderKeys' };

function parseArgs(argv) {
  const a = {
    command: argv[0], group: '', count: 1, tag: 'TagA', keysPrefix: 'key', bodyPrefix: 'msg',
    mode: 'sync', queue: -1, delayLevel: 0, orderKeys: 0, queues: 4, expect: 1, timeout: 60,
    tagExpr: '*', from: 'first', orderly: false, broadcast: false, failAlways: false,
    failTimes: 0, stopAfter: 0, linger: 0, instance: '', countPrefix: '', sql: '',
    timerDelaySec: 0, timerDelayMs: 0, timerDeliverInMs: 0,
  };
  for (let i = 1; i < argv.length; i++) {
    let name = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    name = ALIASES[name] || name;
    if (FLAGS.has(name)) {
      a[name] = true;
      continue;
    }
    const v = argv[++i];
    a[name] = typeof a[name] === 'number' ? Number(v) : v;
  }
  if (!a.group) a.group = a.command === 'consume' ? 'CompatConsumer' : 'CompatProducer';
  return a;
}

const TIMER_PROPS = ['TIMER_DELAY_SEC', 'TIMER_DELAY_MS', 'TIMER_DELIVER_MS', 'TIMER_OUT_MS',
  'TIMER_ENQUEUE_MS', 'TIMER_DEQUEUE_MS', 'TIMER_ROLL_TIMES', 'REAL_TOPIC'];

function timerProps(msg) {
  const t = {};
  for (const k of TIMER_PROPS) if (msg.properties && msg.properties[k]) t[k] = String(msg.properties[k]);
  return t;
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function note(text) {
  process.stderr.write(JSON.stringify({ note: text }) + '\n');
}

function errText(e) {
  return String((e && e.message) || e);
}

// ali-ons asserts an httpclient option even when nameSrv is given; it is never called then.
const httpclient = { request: async () => { throw new Error('no http lookups'); } };

// ali-ons logs through this object; only errors go to stderr.
function logger() {
  const noop = () => {};
  return { info: noop, warn: noop, debug: noop, error: (...x) => process.stderr.write(x.join(' ') + '\n') };
}

/** The queue a message goes to when the driver chooses it (the Java MessageQueueSelector
 *  contract: `--queue Q`, or `(i % M) % queueCount` with `--order-key-count M`), else null. */
function chosenQueue(a, i, queueCount) {
  if (a.queue >= 0) return a.queue;
  if (a.mode === 'orderly' || a.orderKeys > 0) return (i % Math.max(1, a.orderKeys)) % queueCount;
  return null;
}

async function sendOne(producer, a, msg, i) {
  // ali-ons has no selector API; Producer.send() picks the queue itself. The Java client's
  // send(msg, selector) ends in sendKernelImpl(msg, queue), which ali-ons has too.
  const info = await producer.tryToFindTopicPublishInfo(a.topic);
  const queues = info && info.messageQueueList ? info.messageQueueList : [];
  const ids = [...new Set(queues.map(q => Number(q.queueId)))].sort((x, y) => x - y);
  const want = ids.length ? chosenQueue(a, i, ids.length) : null;
  let r;
  if (want === null) {
    r = await producer.send(msg);
  } else {
    const mq = queues.find(q => Number(q.queueId) === want);
    if (!mq) throw new Error(`queue ${want} not in the route (${ids.length} queues)`);
    msg.topic = producer.formatTopic(msg.topic);
    r = await producer.sendKernelImpl(msg, mq);
  }
  // ali-ons sets no UNIQ_KEY: its msgId is the broker's id, i.e. the offset message id.
  return {
    i, status: r.sendStatus, msgId: r.msgId, offsetMsgId: r.msgId,
    queueId: r.messageQueue ? Number(r.messageQueue.queueId) : undefined, queueOffset: Number(r.queueOffset),
  };
}

// ACL: ali-ons signs every request (Channel.beforeRequest) when both keys are set.
function credentials(a) {
  return a.accessKey ? { accessKey: a.accessKey, secretKey: a.secretKey } : {};
}

async function send(a) {
  const { Producer, Message } = require('ali-ons');
  if (!['sync', 'async', 'orderly'].includes(a.mode)) {
    out({ error: `ali-ons has no ${a.mode} send` });
    return 2;
  }
  const producer = new Producer({ httpclient, nameSrv: a.namesrv, producerGroup: a.group, logger: logger(), ...credentials(a) });
  await producer.ready();
  let failures = 0;
  const one = async i => {
    const msg = new Message(a.topic, a.tag, `${a.bodyPrefix}-${i}`);
    msg.keys = [`${a.keysPrefix}-${i}`];
    msg.properties.idx = String(i);
    if (a.delayLevel) msg.delayTimeLevel = a.delayLevel;
    // Timer messages (5.x properties): ali-ons has no setter, a property does.
    if (a.timerDelaySec) msg.properties.TIMER_DELAY_SEC = String(a.timerDelaySec);
    if (a.timerDelayMs) msg.properties.TIMER_DELAY_MS = String(a.timerDelayMs);
    if (a.timerDeliverInMs) msg.properties.TIMER_DELIVER_MS = String(Date.now() + a.timerDeliverInMs);
    try {
      out(await sendOne(producer, a, msg, i));
    } catch (e) {
      failures++;
      out({ i, error: errText(e) });
    }
  };
  if (a.mode === 'async') {
    // Promise-based sends in flight together: the JavaScript form of an async send.
    await Promise.all(Array.from({ length: a.count }, (_, i) => one(i)));
  } else {
    for (let i = 0; i < a.count; i++) await one(i);
  }
  await producer.close();
  return failures ? 1 : 0;
}

/** Thrown by the listener to ask for a redelivery. */
class RetryRequested extends Error {
  constructor() {
    super(RetryRequested.MESSAGE);
  }
}
RetryRequested.MESSAGE = 'driver asked for a retry';

async function consume(a) {
  const { Consumer } = require('ali-ons');
  if (a.orderly) {
    out({ error: 'ali-ons has no orderly consumer' });
    return 2;
  }
  const consumer = new Consumer({
    ...credentials(a),
    httpclient, nameSrv: a.namesrv, consumerGroup: a.group, isBroadcast: a.broadcast,
    // ali-ons defaults to the LAST offset; the contract's default is the first.
    consumeFromWhere: a.from === 'last' ? 'CONSUME_FROM_LAST_OFFSET' : 'CONSUME_FROM_FIRST_OFFSET',
    instanceName: a.instance || `driver${process.pid}`,
    // ali-ons drops (and acknowledges) a delivery whose reconsumeTimes exceeds this, which
    // every message in a %DLQ% topic does (17 with the default 16): raise it to read one.
    maxReconsumeTimes: a.topic.startsWith('%DLQ%') ? 10000 : 16,
    logger: logger(), persistent: false,
  });
  const seen = new Set();
  const deliveries = new Map();
  let done;
  const finished = new Promise(r => { done = r; });
  // ali-ons takes an SQL92 selector as { expressionType, subString } (it registers it in
  // heartbeats; it sends no CHECK_CLIENT_CONFIG).
  const expression = a.sql ? { expressionType: 'SQL92', subString: a.sql } : a.tagExpr;
  consumer.subscribe(a.topic, expression, async msg => {
    const body = msg.body.toString();
    // Deliveries are counted per body: a retried message comes back under a new msgId
    // (ali-ons sets no UNIQ_KEY), and the drivers' bodies are unique per message.
    const n = deliveries.get(body) || 0;
    deliveries.set(body, n + 1);
    // Past the quota, hold the message: never acknowledged, so the next consumer gets it.
    if (a.stopAfter && seen.size >= a.stopAfter) return new Promise(() => {});
    out({
      topic: msg.topic, body, tags: msg.tags,
      keys: Array.isArray(msg.keys) ? msg.keys.join(' ') : (msg.keys == null ? null : String(msg.keys)),
      msgId: msg.msgId, queueId: Number(msg.queueId), queueOffset: Number(msg.queueOffset),
      reconsumeTimes: Number(msg.reconsumeTimes), idx: msg.properties.idx,
      storeTimestamp: Number(msg.storeTimestamp), bornTimestamp: Number(msg.bornTimestamp),
      recvTimestamp: Date.now(), delivery: n, timer: timerProps(msg),
    });
    // Ask for a retry by throwing, not by returning Consumer.ACTION_RETRY: ali-ons wraps the
    // handler of a message redelivered from %RETRY% and drops its return value, so
    // ACTION_RETRY would retry only a first delivery. A throw is retried from either.
    if (a.failAlways || n < a.failTimes) throw new RetryRequested();
    if (body.startsWith(a.countPrefix)) seen.add(body);
    if (seen.size >= a.expect || (a.stopAfter && seen.size >= a.stopAfter)) done();
  });
  consumer.on('error', e => {
    // ali-ons reports a throwing handler as an error; the driver's own retries are no news.
    if (!String(e && e.message).includes(RetryRequested.MESSAGE)) {
      process.stderr.write(`consumer error: ${errText(e)}\n`);
    }
  });
  // ready() can wait forever for a route that never comes: bound it by the timeout too.
  const timer = new Promise(r => setTimeout(r, a.timeout * 1000));
  await Promise.race([consumer.ready().then(() => finished), timer]);
  await new Promise(r => setTimeout(r, a.linger * 1000));
  out({ done: true, distinct: seen.size });
  const want = a.stopAfter ? Math.min(a.expect, a.stopAfter) : a.expect;
  // With a quota, leave like a crashed consumer (held messages stay unacknowledged).
  if (a.stopAfter) return seen.size >= want ? 0 : 1;
  // close() persists offsets; do not let a stuck close keep the process past its timeout.
  await Promise.race([consumer.close(), new Promise(r => setTimeout(r, 5000))]);
  return seen.size >= want ? 0 : 1;
}

// --- raw remoting, for create-topic -------------------------------------------------------

/** One JSON-header request; resolves to { code, remark, body }. */
function remoting(addr, code, extFields, timeoutMs = 5000) {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  const header = Buffer.from(JSON.stringify({ code, language: 'JAVA', version: 409, opaque: 1, flag: 0, extFields }));
  const frame = Buffer.alloc(8);
  frame.writeUInt32BE(4 + header.length, 0);
  frame.writeUInt32BE(header.length, 4);
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, host);
    let buf = Buffer.alloc(0);
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`${addr}: no answer in ${timeoutMs} ms`)));
    sock.on('error', reject);
    sock.on('connect', () => sock.write(Buffer.concat([frame, header])));
    sock.on('data', d => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4 || buf.length < 4 + buf.readUInt32BE(0)) return;
      const hlen = buf.readUInt32BE(4) & 0xffffff;
      const h = JSON.parse(buf.subarray(8, 8 + hlen).toString());
      sock.end();
      resolve({ code: h.code, remark: h.remark || '', body: buf.subarray(8 + hlen, 4 + buf.readUInt32BE(0)) });
    });
  });
}

async function createTopic(a) {
  // GET_BROKER_CLUSTER_INFO (106): fastjson may write map keys as bare numbers
  // ({0:"ip:port"}), so the addresses are picked out by pattern.
  const info = await remoting(a.namesrv, 106, {});
  if (info.code !== 0) {
    out({ error: `GET_BROKER_CLUSTER_INFO: code ${info.code} ${info.remark}` });
    return 1;
  }
  const addrs = [...new Set(info.body.toString().match(/"\d{1,3}(\.\d{1,3}){3}:\d+"/g) || [])].map(s => s.slice(1, -1));
  if (!addrs.length) {
    out({ error: 'the name server knows no broker' });
    return 1;
  }
  const q = String(a.queues);
  let failures = 0;
  for (const addr of addrs.sort()) {
    const r = await remoting(addr, 17, {
      topic: a.topic, defaultTopic: 'TBW102', readQueueNums: q, writeQueueNums: q, perm: '6',
      topicFilterType: 'SINGLE_TAG', topicSysFlag: '0', order: 'false',
    });
    if (r.code === 0) {
      out({ broker: addr, topic: a.topic, queues: a.queues, status: 'OK' });
    } else {
      failures++;
      out({ broker: addr, error: `code ${r.code}: ${r.remark}` });
    }
  }
  return failures ? 1 : 0;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  let code;
  if (a.command === 'send') code = await send(a);
  else if (a.command === 'consume') code = await consume(a);
  else if (a.command === 'create-topic') code = await createTopic(a);
  else {
    out({ error: `ali-ons cannot ${a.command}` });
    code = 2;
  }
  process.exit(code);
}

main().catch(e => {
  out({ error: errText(e) });
  process.exit(1);
});
