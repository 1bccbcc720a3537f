//! The metric families the endpoint reports, computed at scrape time from the broker's
//! statistics. Where rocketmq-exporter reports the same figure, the family has the
//! exporter's name and labels (so its Grafana dashboards work on rmqd as they are); rmqd's
//! own figures are named `rmqd_*`.

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::{groups, own, runtime, topics};
use crate::broker::context::BrokerContext;
use crate::broker::retry::{DLQ_PREFIX, RETRY_PREFIX};

/// One family: its samples as label sets and values.
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricType,
    pub samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    pub fn gauge(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            kind: MetricType::Gauge,
            samples: Vec::new(),
        }
    }

    pub fn counter(name: &'static str, help: &'static str) -> Self {
        Family {
            kind: MetricType::Counter,
            ..Family::gauge(name, help)
        }
    }

    pub fn add(&mut self, labels: Vec<(&'static str, String)>, v: f64) {
        self.samples.push((labels, v));
    }

    pub fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut m = encoder.encode_descriptor(self.name, self.help, None, self.kind)?;
        for (labels, v) in &self.samples {
            let mut f = m.encode_family(labels)?;
            match self.kind {
                MetricType::Counter => {
                    f.encode_counter::<prometheus_client::encoding::NoLabelSet, f64, f64>(v, None)?
                }
                _ => f.encode_gauge(v)?,
            }
        }
        Ok(())
    }
}

/// A histogram family without labels.
pub struct Histogram {
    pub name: &'static str,
    pub help: &'static str,
    pub sum: f64,
    pub count: u64,
    /// (upper bound, observations in this bucket alone).
    pub buckets: Vec<(f64, u64)>,
}

impl Histogram {
    pub fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut m = encoder.encode_descriptor(self.name, self.help, None, MetricType::Histogram)?;
        m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.sum,
            self.count,
            &self.buckets,
            None,
        )
    }
}

/// 0 for an ordinary topic, 1 for a `%RETRY%` topic, 2 for a `%DLQ%` topic.
pub fn kind_of(topic: &str) -> u8 {
    if topic.starts_with(RETRY_PREFIX) {
        1
    } else if topic.starts_with(DLQ_PREFIX) {
        2
    } else {
        0
    }
}

/// The labels every family draws from: which broker this is.
pub struct Scope {
    pub cluster: String,
    pub broker: String,
    pub addr: String,
}

impl Scope {
    /// `cluster`, `broker` and `extra`.
    pub fn labels(&self, extra: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
        let mut l = vec![
            ("cluster", self.cluster.clone()),
            ("broker", self.broker.clone()),
        ];
        l.extend(extra);
        l
    }
}

/// Every family, in a stable order.
pub fn collect(ctx: &BrokerContext) -> (Vec<Family>, Vec<Histogram>) {
    let scope = Scope {
        cluster: ctx.config.broker_cluster_name.clone(),
        broker: ctx.config.broker_name.clone(),
        addr: ctx.config.broker_addr(),
    };
    let mut out = topics::families(ctx, &scope);
    out.extend(groups::families(ctx, &scope));
    out.extend(runtime::families(ctx, &scope));
    out.extend(own::families(ctx));
    (out, vec![own::flush_histogram(ctx)])
}
