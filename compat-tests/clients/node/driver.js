#!/usr/bin/env node
// Drives rmqd with the npm `ali-ons` 3.12.0 client (pure JavaScript remoting client).
// Same command line and JSON-lines output as the other drivers
// (compat-tests/clients/README.md). ali-ons has sync sends only (no oneway, async
// callback, batch or queue selector API), no orderly or pull consumer and no
// transactions: those commands report an error line and exit 2.
'use strict';


const os = require('os');

function parseArgs(argv) {
  const a = {
    command: argv[0], group: 'CompatProducer', count: 1, tag: 'TagA', keysPrefix: 'key',
    bodyPrefix: 'msg', mode: 'sync', delayLevel: 0, expect: 1, timeout: 60, tagExpr: '*',
    orderly: false, broadcast: false, failTimes: 0, stopAfter: 0, linger: 0, instance: '',
  };
  const flags = { '--orderly': 'orderly', '--broadcast': 'broadcast' };
  for (let i = 1; i < argv.length; i++) {
    const k = argv[i];
    if (flags[k]) { a[flags[k]] = true; continue; }
    const name = k.replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const v = argv[++i];
    a[name] = typeof a[name] === 'number' ? Number(v) : v;
  }
  return a;
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// ali-ons asserts an httpclient even when nameSrv is given; it is never called then.
const httpclient = { request: async () => { throw new Error('no http lookups'); } };

function logger() {
  const noop = () => {};
  return { info: noop, warn: noop, debug: noop, error: (...x) => process.stderr.write(x.join(' ') + '\n') };
}

async function send(a) {
  const { Producer, Message } = require('ali-ons');
  if (a.mode !== 'sync') {
    out({ error: `ali-ons has no ${a.mode} send` });
    return 2;
  }
  const producer = new Producer({ httpclient, nameSrv: a.namesrv, producerGroup: a.group, logger: logger() });
  await producer.ready();
  let failures = 0;
  for (let i = 0; i < a.count; i++) {
    const msg = new Message(a.topic, a.tag, `${a.bodyPrefix}-${i}`);
    msg.keys = [`${a.keysPrefix}-${i}`];
    msg.properties.idx = String(i);
    if (a.delayLevel) msg.delayTimeLevel = a.delayLevel;
    try {
      const r = await producer.send(msg);
      out({ i, status: r.sendStatus === 'SEND_OK' ? 0 : r.sendStatus, msgId: r.msgId,
        queueId: r.messageQueue ? Number(r.messageQueue.queueId) : undefined, queueOffset: Number(r.queueOffset) });
    } catch (e) {
      failures++;
      out({ i, error: String(e && e.message || e) });
    }
  }
  await producer.close();
  return failures ? 1 : 0;
}

async function consume(a) {
  const { Consumer } = require('ali-ons');
  if (a.orderly) {
    out({ error: 'ali-ons has no orderly consumer' });
    return 2;
  }
  const consumer = new Consumer({
    httpclient, nameSrv: a.namesrv, consumerGroup: a.group, isBroadcast: a.broadcast,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', instanceName: a.instance || `driver${process.pid}`,
    maxReconsumeTimes: 16, logger: logger(), persistent: false,
  });
  const seen = new Set();
  const deliveries = new Map();
  let done;
  const finished = new Promise(r => { done = r; });
  consumer.subscribe(a.topic, a.tagExpr, async msg => {
    const body = msg.body.toString();
    const n = deliveries.get(msg.msgId) || 0;
    deliveries.set(msg.msgId, n + 1);
    if (a.stopAfter && seen.size >= a.stopAfter) return Consumer.ACTION_RETRY;
    out({
      topic: msg.topic, body, tags: msg.tags, keys: Array.isArray(msg.keys) ? msg.keys.join(' ') : (msg.keys == null ? null : String(msg.keys)), msgId: msg.msgId,
      queueId: Number(msg.queueId), queueOffset: Number(msg.queueOffset), reconsumeTimes: Number(msg.reconsumeTimes),
      idx: msg.properties.idx, storeTimestamp: Number(msg.storeTimestamp), bornTimestamp: Number(msg.bornTimestamp),
      recvTimestamp: Date.now(), delivery: n,
    });
    if (n < a.failTimes) return Consumer.ACTION_RETRY;
    seen.add(body);
    if (seen.size >= a.expect || (a.stopAfter && seen.size >= a.stopAfter)) done();
  });
  consumer.on('error', e => process.stderr.write(`consumer error: ${e && e.message}\n`));
  await consumer.ready();
  await Promise.race([finished, new Promise(r => setTimeout(r, a.timeout * 1000))]);
  await new Promise(r => setTimeout(r, a.linger * 1000));
  out({ done: true, distinct: seen.size });
  await consumer.close();
  const want = a.stopAfter ? Math.min(a.expect, a.stopAfter) : a.expect;
  return seen.size >= want ? 0 : 1;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  process.env.HOME = process.env.HOME || os.tmpdir();
  let code;
  if (a.command === 'send') code = await send(a);
  else if (a.command === 'consume') code = await consume(a);
  else {
    out({ error: `ali-ons cannot ${a.command}` });
    code = 2;
  }
  process.exit(code);
}

main().catch(e => {
  out({ error: String(e && e.stack || e) });
  process.exit(1);
});

