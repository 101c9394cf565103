//! Which program wrote a log, from its content (never from the file name).
//!
//! The first line that only one format writes decides; lines before it are held back and parsed
//! once the format is known.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum InputFormat {
    /// dnsmasq `--log-queries` (syslog, its own `--log-facility` file, or the journal).
    Dnsmasq,
    /// Pi-hole's pihole.log: dnsmasq lines plus gravity / deny-list block lines.
    Pihole,
    /// A NextDNS log export (CSV).
    #[value(name = "nextdns-csv")]
    NextdnsCsv,
    /// systemd-resolved: `resolvectl monitor` output or debug journal lines.
    Resolved,
    /// BIND `named` query log (and RPZ rewrite lines).
    Bind,
    /// unbound `log-queries` / `log-replies` / `log-local-actions`.
    Unbound,
    /// OpenSnitch: the daemon's JSON event logger, or the GUI's connections table as CSV.
    Opensnitch,
}

impl InputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            InputFormat::Dnsmasq => "dnsmasq",
            InputFormat::Pihole => "pihole",
            InputFormat::NextdnsCsv => "nextdns-csv",
            InputFormat::Resolved => "resolved",
            InputFormat::Bind => "bind",
            InputFormat::Unbound => "unbound",
            InputFormat::Opensnitch => "opensnitch",
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <InputFormat as clap::ValueEnum>::from_str(s, true).map_err(|_| format!("unknown log format {s:?}"))
    }
}

/// The format this line can only have come from, if any.
pub fn detect_line(line: &str) -> Option<InputFormat> {
    let line = line.trim_start_matches('\u{feff}');
    if line.starts_with("timestamp,domain,query_type") {
        return Some(InputFormat::NextdnsCsv);
    }
    if line.starts_with("time,node,action,protocol,src_ip") || is_opensnitch_event(line) {
        return Some(InputFormat::Opensnitch);
    }
    if line.contains("pihole-FTL[") || line.contains(" gravity blocked ") {
        return Some(InputFormat::Pihole);
    }
    if line.contains(" dnsmasq[") || line.contains(" dnsmasq: ") {
        return Some(InputFormat::Dnsmasq);
    }
    if line.contains(" unbound[") {
        return Some(InputFormat::Unbound);
    }
    if line.starts_with("→ Q: ") || line.starts_with("← S: ") || line.contains("systemd-resolved[") {
        return Some(InputFormat::Resolved);
    }
    if line.contains(" named[") || (line.contains("client @0x") && line.contains("): query: ")) {
        return Some(InputFormat::Bind);
    }
    None
}

fn is_opensnitch_event(line: &str) -> bool {
    (line.contains("{\"Event\":") && line.contains("\"Action\""))
        || (line.contains(" TCPOUT - [") && line.contains(" DSTHOST=\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_by_a_line_of_it() {
        for (line, want) in [
            ("Nov 27 09:45:08 dnsmasq[9978]: query[A] x from 127.0.0.1", InputFormat::Dnsmasq),
            ("Nov 27 09:45:08 pihole-FTL[12]: query[A] x from 10.0.0.2", InputFormat::Pihole),
            ("Nov 27 09:45:08 dnsmasq[1]: gravity blocked x is 0.0.0.0", InputFormat::Pihole),
            ("[1795772716] unbound[10279:0] info: 127.0.0.1 x. A IN", InputFormat::Unbound),
            ("timestamp,domain,query_type,dnssec,protocol,client_ip,status", InputFormat::NextdnsCsv),
            ("→ Q: api.anthropic.com IN A", InputFormat::Resolved),
            ("27-Nov-2026 09:45:16.123 client @0x7f 10.0.0.2#5353 (x): query: x IN A + (10.0.0.1)", InputFormat::Bind),
            ("{\"Event\":{\"dst_host\":\"x\"},\"Rule\":\"r\",\"Action\":\"deny\",\"Type\":0}", InputFormat::Opensnitch),
            ("time,node,action,protocol,src_ip,src_port,dst_ip", InputFormat::Opensnitch),
        ] {
            assert_eq!(detect_line(line), Some(want), "{line}");
        }
        assert_eq!(detect_line("hello world"), None);
        assert_eq!("nextdns-csv".parse::<InputFormat>(), Ok(InputFormat::NextdnsCsv));
    }
}
