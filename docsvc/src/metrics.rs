//! `/metrics` through the Prometheus project's own client (`prometheus-client`): counters,
//! latency histograms per route, the group commit's batch sizes, and gauges set when scraped
//! (seal state, deliveries by state, CRL freshness, the witnessing round).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A request's route as declared (never the path as sent), its method and status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    /// `2xx`, `4xx`, …
    pub status: String,
}

/// One label: a state (deliveries) or a CA (CRLs).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

/// The issuing CA a CRL is of, by its subject.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IssuerLabel {
    pub issuer: String,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric the node exports, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Counter,
    pub client_errors: Counter,
    pub server_errors: Counter,
    pub denials: Counter,
    /// Refusals on `/network/v1` (node connections and deliveries).
    pub network_refusals: Counter,
    /// Of those, the ones counted but not logged one by one (`node::refusals`).
    pub network_refusals_unlogged: Counter,
    pub documents_created: Counter,
    pub documents_read: Counter,
    pub signatures: Counter,
    pub log_entries: Counter,
    /// Certificates refused because their revocation status could not be established.
    pub revocation_unknown: Counter,
    /// Signatures refused because the TSA gave no time-stamp.
    pub timestamp_unavailable: Counter,
    /// Connections closed at once: over the limit in all or for their address.
    pub connections_refused: Counter,
    /// Connections closed for a timeout: TLS handshake, request headers, silence.
    pub connections_timed_out: Counter,
    /// Requests answered with an integrity incident (a row, entry or file failed its check).
    pub integrity_incidents: Counter,
    /// Requests refused because the access log could not be written (nothing was done).
    pub log_unavailable: Counter,
    /// Split views seen while witnessing peers' access logs.
    pub split_views: Counter,
    /// Operator log lines dropped because stderr's reader fell behind or failed (set when scraped).
    pub log_lines_dropped: Counter,
    /// When the last witnessing round ended with every peer checked (seconds since the epoch).
    pub witnessed_at: Gauge,
    /// Split views held now (set when scraped): stays while the incident is held.
    pub split_views_held: Gauge,
    /// Peers' deliveries under way now, each holding one of its peer's turns; and those
    /// answered 503 after waiting past their peer's share.
    pub peer_deliveries: ShareMetrics,
    /// Letters being read now, each holding one of its official's turns; and reads answered
    /// 503 after waiting past their official's share.
    pub official_reads: ShareMetrics,
    pub sealed: Gauge,
    /// Request latency by route, method and status class.
    pub request_seconds: Latency,
    /// Entries per group commit of stand-alone log entries.
    pub log_batch_entries: Histogram,
    /// Outbox deliveries by state (set when scraped).
    pub deliveries: Family<StateLabel, Gauge>,
    /// Seconds until each issuing CA's CRL is stale (set when scraped; negative: stale).
    pub crl_seconds_until_stale: Family<IssuerLabel, Gauge>,
    /// CRLs missing, stale, or stale within `crl_warn_hours` (set when scraped).
    pub crl_stale_soon: Gauge,
}

/// What one kind of share (`node::shares`) is doing: turns held now, and requests answered 503
/// after waiting past their caller's share (`<name>_busy_total`).
#[derive(Clone, Debug, Default)]
pub struct ShareMetrics {
    pub held: Gauge,
    pub busy: Counter,
}

fn counter(r: &mut Registry, name: &str, help: &str) -> Counter {
    let c = Counter::default();
    r.register(name, help, c.clone());
    c
}

fn gauge(r: &mut Registry, name: &str, help: &str) -> Gauge {
    let g = Gauge::default();
    r.register(name, help, g.clone());
    g
}

fn share(r: &mut Registry, name: &str, held: &str, busy: &str) -> ShareMetrics {
    ShareMetrics {
        held: gauge(r, name, held),
        busy: counter(r, &format!("{name}_busy"), busy),
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(Histogram::new(exponential_buckets(1.0, 2.0, 11)))
    }
}

impl Metrics {
    /// The metrics, with the group commit's batch-size histogram (kept by the batcher).
    pub fn new(log_batch_entries: Histogram) -> Self {
        let mut registry = Registry::with_prefix("docsvc");
        let r = &mut registry;
        let m = Metrics {
            requests: counter(r, "requests", "HTTP requests answered"),
            client_errors: counter(r, "client_errors", "Requests answered 4xx"),
            server_errors: counter(r, "server_errors", "Requests answered 5xx"),
            denials: counter(r, "policy_denials", "Actions the policy refused"),
            network_refusals: counter(
                r,
                "network_refusals",
                "Node connections and deliveries refused on /network/v1",
            ),
            network_refusals_unlogged: counter(
                r,
                "network_refusals_unlogged",
                "Refusals on /network/v1 counted in a summary instead of one log entry each",
            ),
            documents_created: counter(r, "documents_created", "Letters stored"),
            documents_read: counter(r, "documents_read", "Letters opened"),
            signatures: counter(r, "signatures", "CMS signatures made"),
            timestamp_unavailable: counter(
                r,
                "timestamp_unavailable",
                "Signatures refused because the TSA gave no time-stamp",
            ),
            log_entries: counter(r, "audit_entries", "Access log entries appended"),
            revocation_unknown: counter(
                r,
                "revocation_unknown",
                "Certificates refused for want of a current CRL of their issuer",
            ),
            connections_refused: counter(
                r,
                "connections_refused",
                "Connections closed at once, over the connection limits in all or per address",
            ),
            connections_timed_out: counter(
                r,
                "connections_timed_out",
                "Connections closed for a timeout (TLS handshake, request headers, silence)",
            ),
            integrity_incidents: counter(
                r,
                "integrity_incidents",
                "Requests answered with an integrity incident: stored data failed its check",
            ),
            log_unavailable: counter(
                r,
                "log_unavailable",
                "Requests refused because the access log could not be written",
            ),
            split_views: counter(
                r,
                "split_views",
                "Peers' access logs seen to fork or roll back while witnessing them",
            ),
            log_lines_dropped: counter(
                r,
                "log_lines_dropped",
                "Operator log lines dropped because stderr's reader fell behind or failed (never the access log)",
            ),
            witnessed_at: gauge(
                r,
                "witness_last_round_timestamp_seconds",
                "When every peer was last witnessed (0: never)",
            ),
            peer_deliveries: share(
                r,
                "peer_deliveries",
                "Deliveries from peer nodes under way, each holding one of its peer's turns",
                "Deliveries from peer nodes answered 503 past their peer's share (max_deliveries_per_peer)",
            ),
            official_reads: share(
                r,
                "official_reads",
                "Letters being read (parts, exports), each holding one of its official's turns",
                "Reads answered 503 past their official's share (max_reads_per_official)",
            ),
            split_views_held: gauge(
                r,
                "split_views_held",
                "Peers whose split view this node holds now (until an operator deals with it)",
            ),
            sealed: gauge(r, "sealed", "1 while the keystore is sealed"),
            request_seconds: Family::new_with_constructor(latency_histogram),
            log_batch_entries,
            deliveries: Family::default(),
            crl_seconds_until_stale: Family::default(),
            crl_stale_soon: Gauge::default(),
            registry,
        };
        m.register_families()
    }

    /// Registers the families and histograms (the plain counters and gauges are registered as
    /// they are made).
    fn register_families(self) -> Self {
        let mut registry = self.registry;
        let m = Metrics {
            registry: Registry::default(),
            ..self
        };
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by declared route, method and status class",
            m.request_seconds.clone(),
        );
        registry.register(
            "audit_group_commit_entries",
            "Access log entries per group commit (one transaction, one signed head)",
            m.log_batch_entries.clone(),
        );
        registry.register(
            "deliveries",
            "Outbox deliveries by state",
            m.deliveries.clone(),
        );
        registry.register(
            "crl_seconds_until_stale",
            "Seconds until the issuer's CRL passes its nextUpdate (-1 without a CRL)",
            m.crl_seconds_until_stale.clone(),
        );
        registry.register(
            "crl_stale_soon",
            "CRLs missing, stale, or stale within crl_warn_hours",
            m.crl_stale_soon.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn inc(counter: &Counter) {
        counter.inc();
    }

    /// Brings the dropped-lines counter up to the log thread's own count: a counter only
    /// rises, and two scrapes at once cannot count the same lines twice.
    pub fn set_log_lines_dropped(&self, total: u64) {
        self.log_lines_dropped
            .inner()
            .fetch_max(total, std::sync::atomic::Ordering::Relaxed);
    }

    /// Observes one answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.request_seconds
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: format!("{}xx", status / 100),
            })
            .observe(seconds);
    }

    /// The exposition, once the scrape-time gauges are set: OpenMetrics text when the scraper
    /// asks for it (Prometheus does), else the Prometheus text format 0.0.4 (promtool, curl).
    pub fn render(&self, openmetrics: bool) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            return String::new();
        }
        if openmetrics { out } else { text_004(&out) }
    }
}

/// OpenMetrics text as the Prometheus text format 0.0.4: a counter's family is named as its
/// sample is (`_total`), and the `# UNIT` and `# EOF` lines go.
fn text_004(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# TYPE ", "# HELP "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_name_counters_as_their_samples() {
        let m = Metrics::default();
        Metrics::inc(&m.requests);
        m.observe("GET", "/api/v1/documents/{id}", 200, 0.002);
        let open = m.render(true);
        assert!(open.contains("# TYPE docsvc_requests counter\n"));
        assert!(open.contains("docsvc_requests_total 1\n"));
        assert!(open.ends_with("# EOF\n"));
        let text = m.render(false);
        assert!(
            text.contains("# TYPE docsvc_requests_total counter\n"),
            "{text}"
        );
        assert!(text.contains("# HELP docsvc_requests_total HTTP requests answered.\n"));
        assert!(text.contains("docsvc_requests_total 1\n"));
        assert!(!text.contains("# EOF"));
        assert!(
            text.contains(
                "docsvc_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/documents/{id}\",status=\"2xx\"} 1\n"
            ),
            "{text}"
        );
    }
}
