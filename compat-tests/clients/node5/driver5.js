// Driver for the 5.x gRPC Node client (npm rocketmq-client-nodejs 1.0.8).
// Every line on stdout is one JSON object. Commands (options as in the Python 5.x driver):
//   send      --endpoint H:P --topic T --count N [--tag TAG] [--body-prefix B] [--message-group G]
//             [--delay-ms D]
//   simple    --endpoint H:P --topic T --group G --expect N [--invisible S] [--timeout-secs S]
//             [--skip-ack-first] [--linger S] [--id-file PATH]
//   load-send --endpoint H:P --topic T --seconds S --size B --concurrency K
'use strict';

const { Producer, SimpleConsumer, FilterExpression } = require('rocketmq-client-nodejs');

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

async function send(o) {
  const p = new Producer({ endpoints: o.endpoint, namespace: '', topics: [ o.topic ], logger: quiet });
  await p.startup();
  let ok = true;
  for (let i = 0; i < Number(o.count); i++) {
    const msg = {
      topic: o.topic,
      body: Buffer.from(`${o['body-prefix'] || 'msg'}-${i}`),
      tag: o.tag || 'TagA',
      keys: [ `key-${i}` ],
      properties: new Map([[ 'idx', String(i) ]]),
    };
    if (o['message-group']) msg.messageGroup = o['message-group'];
    if (o['delay-ms']) msg.delay = Number(o['delay-ms']);
    try {
      const r = await p.send(msg);
      out({ i, msgId: r.messageId, offset: Number(r.offset), status: 'SEND_OK', sentTimestamp: Date.now() });
    } catch (e) {
      ok = false;
      out({ i, error: String(e && e.message || e) });
    }
  }
  await p.shutdown();
  return ok ? 0 : 1;
}

async function simple(o) {
  const expect = Number(o.expect);
  const c = new SimpleConsumer({
    endpoints: o.endpoint, namespace: '', consumerGroup: o.group, logger: quiet,
    subscriptions: new Map([[ o.topic, FilterExpression.SUB_ALL ]]), awaitDuration: 5000,
  });
  await c.startup();
  // Admin tests address the client by its id (GET_CONSUMER_RUNNING_INFO).
  if (o['id-file']) require('fs').writeFileSync(o['id-file'], c.clientId);
  const invisible = Number(o.invisible || 15) * 1000;
  const deadline = Date.now() + Number(o['timeout-secs'] || 60) * 1000;
  const seen = new Set();
  const acked = new Set();
  // One receive even with --expect 0: a new group starts at the queues' ends.
  let rounds = 0;
  while ((acked.size < expect || rounds === 0) && Date.now() < deadline) {
    rounds++;
    let msgs = [];
    try {
      msgs = await c.receive(16, invisible);
    } catch (e) {
      out({ receiveError: String(e && e.message || e) });
      await new Promise(r => setTimeout(r, 500));
      continue;
    }
    for (const m of msgs) {
      const body = m.body.toString();
      const first = !seen.has(body);
      seen.add(body);
      out({ body, msgId: m.messageId, attempt: m.deliveryAttempt, tag: m.tag, first,
        props: Object.fromEntries(m.properties || []), recvTimestamp: Date.now() });
      if (first && o['skip-ack-first']) continue;
      await c.ack(m);
      acked.add(body);
      out({ acked: body });
    }
  }
  out({ done: true, distinct: acked.size });
  const lingerEnd = Date.now() + Number(o.linger || 0) * 1000;
  while (Date.now() < lingerEnd) {
    for (const m of await c.receive(16, invisible)) {
      out({ body: m.body.toString(), late: true, attempt: m.deliveryAttempt, recvTimestamp: Date.now() });
      await c.ack(m);
    }
  }
  await c.shutdown();
  return acked.size >= expect ? 0 : 1;
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
const run = { send, simple, 'load-send': loadSend }[o.command];
if (!run) {
  process.stderr.write('unknown command\n');
  process.exit(2);
}
run(o).then(code => process.exit(code), e => {
  out({ error: String(e && e.stack || e) });
  process.exit(1);
});
