//! Requests seen by something other than the wire — the sealed run's sink, which terminates TLS —
//! joined to the captured flow they travelled in, so they are judged by path like plain HTTP.

use std::net::SocketAddr;

#[derive(Debug, Clone, Default)]
pub struct SeenRequest {
    pub method: String,
    /// `:authority` or Host, as sent.
    pub authority: Option<String>,
    /// The request target; the report keeps it without the query string.
    pub path: String,
    pub http_version: Option<String>,
    pub user_agent: Option<String>,
    /// Header names only: values carry credentials.
    pub header_names: Vec<String>,
    /// The status the sink answered.
    pub status: Option<u16>,
    /// Which model API the sink played for this request, if any.
    pub answered_by: Option<String>,
    /// Planted credentials found in the request (canary id and where).
    pub canary_hits: Vec<String>,
}

/// Looks up the requests of one flow by its endpoints (client and server as captured).
pub trait RequestSource {
    fn requests(&self, client: SocketAddr, server: SocketAddr) -> Vec<SeenRequest>;
}

/// The path without its query string: queries often carry identifiers a report should not copy.
pub fn path_only(target: &str) -> &str {
    target.split(['?', '#']).next().unwrap_or(target)
}
