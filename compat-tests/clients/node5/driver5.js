// Driver for the 5.x gRPC Node client (npm rocketmq-client-nodejs 1.0.8).
// Every line on stdout is one JSON object. Commands (options as in the Python 5.x driver):
//   send      --endpoint H:P --topic T --count N [--tag TAG] [--body-prefix B] [--keys-prefix K]
//             [--message-group G] [--groups M] [--delay-ms D]
//   tx-send   --endpoint H:P --topic T --count N --decisions commit,rollback,unknown,...
//             [--check-answer commit|rollback|unknown] [--linger S]
//   simple    --endpoint H:P --topic T --group G --expect N [--invisible S] [--timeout-secs S]
//             [--skip-ack-first] [--change-invisible S] [--never-ack] [--linger S] [--batch B]
//             [--tag-expr E] [--id-file PATH]
//   push      --endpoint H:P --topic T --group G --expect N [--timeout-secs S] [--fail-always]
//             [--linger S] [--tag-expr E]
//   load-send --endpoint H:P --topic T --seconds S --size B --concurrency K
// 1.0.8 has all three client kinds: Producer (normal, FIFO, delay, transactional with a
// TransactionChecker), SimpleConsumer and PushConsumer (standard and FIFO consume services).
'use strict';

const {
  Producer, SimpleConsumer, PushConsumer, FilterExpression, ConsumeResult,
} = require('rocketmq-client-nodejs');
const { TransactionResolution } = require('rocketmq-client-nodejs/proto/apache/rocketmq/v2/definition_pb');

function parse(argv) {
  const o = { command: argv[0] };
  for (let i = 1; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) o[k] = argv[++i];
    else o[k] = true;
  }
  return o;
}

const out = obj => process.stdout.write(JSON.stringify(obj) + '\n');
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const sleep = ms => new Promise(r => setTimeout(r, ms));
const errText = e => String(e && e.message || e);

function delivery(m, extra) {
  return Object.assign({
    body: m.body.toString(), msgId: m.messageId, tag: m.tag, keys: m.keys,
    group: m.messageGroup, attempt: m.deliveryAttempt,
    props: Object.fromEntries(m.properties || []), recvTimestamp: Date.now(),
  }, extra || {});
}

function messageOf(o, i) {
  const msg = {
    topic: o.topic,
    body: Buffer.from(`${o['body-prefix'] || 'msg'}-${i}`),
    tag: o.tag || 'TagA',
    keys: [ `${o['keys-prefix'] || 'key'}-${i}` ],
    properties: new Map([[ 'idx', String(i) ]]),
  };
  if (o['message-group']) {
    const groups = Number(o.groups || 1);
    msg.messageGroup = groups > 1 ? `${o['message-group']}-${i % groups}` : o['message-group'];
  }
  if (o['delay-ms']) msg.delay = Number(o['delay-ms']);
  return msg;
}

async function send(o) {
  const p = new Producer({ endpoints: o.endpoint, namespace: '', topics: [ o.topic ], logger: quiet });
  await p.startup();
  let ok = true;
  for (let i = 0; i < Number(o.count); i++) {
    try {
      const r = await p.send(messageOf(o, i));
      out({ i, msgId: r.messageId, offset: Number(r.offset), status: 'SEND_OK', sentTimestamp: Date.now() });
    } catch (e) {
      ok = false;
      out({ i, error: errText(e) });
    }
  }
  await p.shutdown();
  return ok ? 0 : 1;
}

async function txSend(o) {
  const decisions = o.decisions.split(',');
  const answer = {
    commit: TransactionResolution.COMMIT, rollback: TransactionResolution.ROLLBACK,
  }[o['check-answer'] || 'commit'] || TransactionResolution.TRANSACTION_RESOLUTION_UNSPECIFIED;
  // The broker's check arrives over the telemetry stream as RecoverOrphanedTransactionCommand.
  const checker = {
    async check(m) {
      out({ check: m.body.toString(), msgId: m.messageId });
      return answer;
    },
  };
  const p = new Producer({
    endpoints: o.endpoint, namespace: '', topics: [ o.topic ], logger: quiet, checker,
  });
  await p.startup();
  let ok = true;
  for (let i = 0; i < Number(o.count); i++) {
    try {
      const t = p.beginTransaction();
      const r = await p.send(messageOf(o, i), t);
      const d = decisions[i % decisions.length];
      if (d === 'commit') await t.commit();
      else if (d === 'rollback') await t.rollback();
      out({ i, msgId: r.messageId, decision: d, status: 'SEND_OK' });
    } catch (e) {
      ok = false;
      out({ i, error: errText(e) });
    }
  }
  await sleep(Number(o.linger || 0) * 1000);
  await p.shutdown();
  return ok ? 0 : 1;
}

async function simple(o) {
  const expect = Number(o.expect);
  const c = new SimpleConsumer({
    endpoints: o.endpoint, namespace: '', consumerGroup: o.group, logger: quiet,
    subscriptions: new Map([[ o.topic, new FilterExpression(o['tag-expr'] || '*') ]]), awaitDuration: 5000,
  });
  await c.startup();
  // Admin tests address the client by its id (GET_CONSUMER_RUNNING_INFO).
  if (o['id-file']) require('fs').writeFileSync(o['id-file'], c.clientId);
  const invisible = Number(o.invisible || 15) * 1000;
  const deadline = Date.now() + Number(o['timeout-secs'] || 60) * 1000;
  const neverAck = Boolean(o['never-ack']);
  const change = o['change-invisible'];
  const seen = new Set();
  const acked = new Set();
  // One receive even with --expect 0: a new group starts at the queues' ends.
  // --never-ack receives until the deadline: what it leaves comes back, then goes to the DLQ.
  let rounds = 0;
  while ((neverAck || acked.size < expect || rounds === 0) && Date.now() < deadline) {
    rounds++;
    let msgs = [];
    try {
      msgs = await c.receive(Number(o.batch || 16), invisible);
    } catch (e) {
      out({ receiveError: errText(e) });
      await sleep(500);
      continue;
    }
    for (const m of msgs) {
      const body = m.body.toString();
      const first = !seen.has(body);
      seen.add(body);
      out(delivery(m, { first }));
      if (neverAck || (first && o['skip-ack-first'])) continue;
      if (first && change !== undefined) {
        await c.changeInvisibleDuration(m, Number(change) * 1000);
        out({ changed: body });
        continue;
      }
      await c.ack(m);
      acked.add(body);
      out({ acked: body });
    }
  }
  out({ done: true, distinct: acked.size, seen: seen.size });
  const lingerEnd = Date.now() + Number(o.linger || 0) * 1000;
  while (Date.now() < lingerEnd) {
    for (const m of await c.receive(16, invisible)) {
      out(delivery(m, { late: true }));
      await c.ack(m);
    }
  }
  await c.shutdown();
  if (neverAck) return seen.size >= expect ? 0 : 1;
  return acked.size >= expect ? 0 : 1;
}

async function push(o) {
  const expect = Number(o.expect);
  const failAlways = Boolean(o['fail-always']);
  const distinct = new Set();
  const c = new PushConsumer({
    endpoints: o.endpoint, namespace: '', consumerGroup: o.group, logger: quiet,
    subscriptions: new Map([[ o.topic, new FilterExpression(o['tag-expr'] || '*') ]]),
    messageListener: {
      consume(m) {
        out(delivery(m));
        if (failAlways) return ConsumeResult.FAILURE;
        distinct.add(m.body.toString());
        return ConsumeResult.SUCCESS;
      },
    },
  });
  await c.startup();
  const deadline = Date.now() + Number(o['timeout-secs'] || 60) * 1000;
  while ((failAlways || distinct.size < expect) && Date.now() < deadline) await sleep(100);
  out({ done: true, distinct: distinct.size });
  await sleep(Number(o.linger || 0) * 1000);
  // shutdown() first waits for the in-flight long polls (up to the 20 s the server sets);
  // two seconds are enough for the last acks to go out.
  await Promise.race([ c.shutdown(), sleep(2000) ]);
  return distinct.size >= expect || failAlways ? 0 : 1;
}

async function loadSend(o) {
  const p = new Producer({ endpoints: o.endpoint, namespace: '', topics: [ o.topic ], logger: quiet });
  await p.startup();
  const body = Buffer.alloc(Number(o.size || 1024), 120);
  const end = Date.now() + Number(o.seconds) * 1000;
  let sent = 0;
  let errors = 0;
  const start = Date.now();
  const worker = async () => {
    while (Date.now() < end) {
      try {
        await p.send({ topic: o.topic, body, tag: 'load' });
        sent++;
      } catch (e) {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: Number(o.concurrency || 16) }, worker));
  const secs = (Date.now() - start) / 1000;
  await p.shutdown();
  out({ sent, errors, seconds: secs, msgsPerSec: sent / secs });
  return 0;
}

const o = parse(process.argv.slice(2));
const run = { send, 'tx-send': txSend, simple, push, 'load-send': loadSend }[o.command];
if (!run) {
  process.stderr.write('unknown command\n');
  process.exit(2);
}
run(o).then(code => process.exit(code), e => {
  out({ error: String(e && e.stack || e) });
  process.exit(1);
});
