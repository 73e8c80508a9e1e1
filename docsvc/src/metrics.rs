//! Counters for `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub client_errors: AtomicU64,
    pub server_errors: AtomicU64,
    pub denials: AtomicU64,
    /// Refusals on `/network/v1` (node connections and deliveries).
    pub network_refusals: AtomicU64,
    /// Of those, the ones counted but not logged one by one (`node::refusals`).
    pub network_refusals_unlogged: AtomicU64,
    pub documents_created: AtomicU64,
    pub documents_read: AtomicU64,
    pub signatures: AtomicU64,
    pub log_entries: AtomicU64,
    /// Certificates refused because their revocation status could not be established.
    pub revocation_unknown: AtomicU64,
    /// Signatures refused because the TSA gave no time-stamp.
    pub timestamp_unavailable: AtomicU64,
    /// Connections closed at once: over the limit in all or for their address.
    pub connections_refused: AtomicU64,
    /// Connections closed for a timeout: TLS handshake, request headers, silence.
    pub connections_timed_out: AtomicU64,
    /// Requests answered with an integrity incident (a row, entry or file failed its check).
    pub integrity_incidents: AtomicU64,
    /// Requests refused because the access log could not be written (nothing was done).
    pub log_unavailable: AtomicU64,
    /// Split views seen while witnessing peers' access logs.
    pub split_views: AtomicU64,
    /// When the last witnessing round ended with every peer checked (seconds since the epoch).
    pub witnessed_at: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, sealed: bool) -> String {
        let mut out = String::new();
        let mut c = |name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP docsvc_{name} {help}");
            let _ = writeln!(out, "# TYPE docsvc_{name} counter");
            let _ = writeln!(out, "docsvc_{name} {}", v.load(Ordering::Relaxed));
        };
        c("requests_total", "HTTP requests answered.", &self.requests);
        c(
            "client_errors_total",
            "Requests answered 4xx.",
            &self.client_errors,
        );
        c(
            "server_errors_total",
            "Requests answered 5xx.",
            &self.server_errors,
        );
        c(
            "policy_denials_total",
            "Actions the policy refused.",
            &self.denials,
        );
        c(
            "network_refusals_total",
            "Node connections and deliveries refused on /network/v1.",
            &self.network_refusals,
        );
        c(
            "network_refusals_unlogged_total",
            "Refusals on /network/v1 counted in a summary instead of one log entry each.",
            &self.network_refusals_unlogged,
        );
        c(
            "documents_created_total",
            "Letters stored.",
            &self.documents_created,
        );
        c(
            "documents_read_total",
            "Letters opened.",
            &self.documents_read,
        );
        c("signatures_total", "CMS signatures made.", &self.signatures);
        c(
            "timestamp_unavailable_total",
            "Signatures refused because the TSA gave no time-stamp.",
            &self.timestamp_unavailable,
        );
        c(
            "audit_entries_total",
            "Access log entries appended.",
            &self.log_entries,
        );
        c(
            "revocation_unknown_total",
            "Certificates refused for want of a current CRL of their issuer.",
            &self.revocation_unknown,
        );
        c(
            "connections_refused_total",
            "Connections closed at once, over the connection limits in all or per address.",
            &self.connections_refused,
        );
        c(
            "connections_timed_out_total",
            "Connections closed for a timeout (TLS handshake, request headers, silence).",
            &self.connections_timed_out,
        );
        c(
            "integrity_incidents_total",
            "Requests answered with an integrity incident: stored data failed its check.",
            &self.integrity_incidents,
        );
        c(
            "log_unavailable_total",
            "Requests refused because the access log could not be written.",
            &self.log_unavailable,
        );
        c(
            "split_views_total",
            "Peers' access logs seen to fork or roll back while witnessing them.",
            &self.split_views,
        );
        let _ = writeln!(
            out,
            "# HELP docsvc_witness_last_round_timestamp_seconds When every peer was last witnessed (0: never)."
        );
        let _ = writeln!(
            out,
            "# TYPE docsvc_witness_last_round_timestamp_seconds gauge"
        );
        let _ = writeln!(
            out,
            "docsvc_witness_last_round_timestamp_seconds {}",
            self.witnessed_at.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP docsvc_sealed 1 while the keystore is sealed.");
        let _ = writeln!(out, "# TYPE docsvc_sealed gauge");
        let _ = writeln!(out, "docsvc_sealed {}", u8::from(sealed));
        out
    }
}
