//! Exporting the catalog, judged by a policy, to the DNS blockers and firewalls people run.
//!
//! Only names whose host-level verdict under the policy is a **violation** are written; the model
//! endpoints, opted-in hosts and classes, and `[local] allow` names the policy allows are never
//! blocked. How that is guaranteed depends on what the format can say:
//!
//! | format | exact name | name + sub-domains | exceptions |
//! |---|---|---|---|
//! | `hosts`, `pihole` (plain domain list), `nftables` | yes | no: `*.x` rules are listed as not expressible | not needed |
//! | `dnsmasq` (`address=/x/`), `unbound` (`local-zone`), `nextdns` | no: an exact name is written as a domain | yes | dnsmasq `server=/x/#`, unbound `transparent`; NextDNS: none |
//! | `adguard`, `squid`, `little-snitch`, `opensnitch` | yes | yes | AdGuard `@@`, Squid a second ACL; Little Snitch, OpenSnitch: none |
//!
//! A catalog suffix `*.x` is written as "x with its sub-domains" (the apex x is blocked too). When an
//! allowed name lies under a blocked domain, formats with exceptions get one; formats without drop
//! the covering domain and say so. Path rules cannot be exported (a name-based blocker never sees
//! paths), nor can `local` names (they never leave the machine).
//!
//! Network monitors (`suricata`, `zeek-intel`) see every name, so they get every catalog entry with
//! its verdict instead (see `detect`, `suricata` and `zeek`).
//!
//! `nftables` resolves names to addresses **at export time** through an injectable [`Resolve`]
//! (the system resolver by default) and removes every address that an allowed name also resolves to.

mod detect;
mod suricata;
mod zeek;

pub use suricata::{SID_BASE, SID_SPAN, stable_sid};

use super::{Catalog, Class};
use crate::classify::{Subject, judge};
use crate::policy::{HostPattern, LocalEndpoint, Policy, Verdict};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::net::{IpAddr, ToSocketAddrs};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    Hosts,
    Dnsmasq,
    Unbound,
    /// Pi-hole adlist: one exact domain per line.
    Pihole,
    /// AdGuard Home / uBlock / Pi-hole v6 ABP-style list.
    Adguard,
    /// JSON array for the NextDNS denylist API.
    Nextdns,
    /// Little Snitch `.lsrules`.
    LittleSnitch,
    /// OpenSnitch rule JSON.
    Opensnitch,
    Squid,
    Nftables,
    /// Suricata 7 rules over tls.sni, quic.sni, dns.query and http.host/http.uri.
    Suricata,
    /// Zeek Intel framework file with egress-audit's verdicts in `meta.egress_*` columns.
    ZeekIntel,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 12] = [
        ExportFormat::Hosts,
        ExportFormat::Dnsmasq,
        ExportFormat::Unbound,
        ExportFormat::Pihole,
        ExportFormat::Adguard,
        ExportFormat::Nextdns,
        ExportFormat::LittleSnitch,
        ExportFormat::Opensnitch,
        ExportFormat::Squid,
        ExportFormat::Nftables,
        ExportFormat::Suricata,
        ExportFormat::ZeekIntel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Hosts => "hosts",
            ExportFormat::Dnsmasq => "dnsmasq",
            ExportFormat::Unbound => "unbound",
            ExportFormat::Pihole => "pihole",
            ExportFormat::Adguard => "adguard",
            ExportFormat::Nextdns => "nextdns",
            ExportFormat::LittleSnitch => "little-snitch",
            ExportFormat::Opensnitch => "opensnitch",
            ExportFormat::Squid => "squid",
            ExportFormat::Nftables => "nftables",
            ExportFormat::Suricata => "suricata",
            ExportFormat::ZeekIntel => "zeek-intel",
        }
    }

    /// What the format can express.
    fn caps(self) -> Caps {
        let (exact, subtree, exceptions) = match self {
            ExportFormat::Hosts | ExportFormat::Pihole | ExportFormat::Nftables => (true, false, false),
            ExportFormat::Dnsmasq | ExportFormat::Unbound => (false, true, true),
            ExportFormat::Nextdns => (false, true, false),
            ExportFormat::Adguard | ExportFormat::Squid | ExportFormat::Suricata | ExportFormat::ZeekIntel => {
                (true, true, true)
            }
            ExportFormat::LittleSnitch | ExportFormat::Opensnitch => (true, true, false),
        };
        Caps { exact, subtree, exceptions }
    }

    /// The comment prefix of line formats; `None` for JSON.
    fn comment(self) -> Option<&'static str> {
        match self {
            ExportFormat::Nextdns | ExportFormat::LittleSnitch | ExportFormat::Opensnitch => None,
            ExportFormat::Adguard => Some("!"),
            _ => Some("#"),
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = match s {
            "lsrules" | "littlesnitch" => "little-snitch",
            "nft" => "nftables",
            "zeek" | "intel" => "zeek-intel",
            "adguard-home" | "ublock" | "adblock" => "adguard",
            "pi-hole" | "domains" => "pihole",
            other => other,
        };
        ExportFormat::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| {
            format!(
                "unknown export format {s:?} (expected one of: {})",
                ExportFormat::ALL.map(|f| f.as_str()).join(", ")
            )
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Caps {
    /// Can block a name without its sub-domains.
    exact: bool,
    /// Can block a name with its sub-domains.
    subtree: bool,
    /// Can exempt a name inside a blocked domain.
    exceptions: bool,
}

/// Name resolution for the `nftables` export.
pub trait Resolve {
    fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String>;
}

/// The system resolver (getaddrinfo: /etc/hosts, then DNS as /etc/nsswitch.conf says).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let addrs = (name, 0u16).to_socket_addrs().map_err(|e| e.to_string())?;
        let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
        ips.sort();
        ips.dedup();
        Ok(ips)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError {
    pub message: String,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "export: {}", self.message)
    }
}

impl std::error::Error for ExportError {}

/// An export and what it could not say.
#[derive(Debug, Clone)]
pub struct Export {
    pub format: ExportFormat,
    pub text: String,
    /// Blocking entries written (names, domains or addresses).
    pub blocked: usize,
    /// Exceptions written.
    pub exceptions: usize,
    /// What could not be expressed, what was dropped to keep allowed names reachable, how names
    /// were resolved. Also written as comments (line formats) or in the description (JSON ones
    /// that have one).
    pub notes: Vec<String>,
}

/// Exports with the system resolver (only `nftables` resolves); returns the file's text.
/// `classes` limits the blocked classes (empty: every class).
pub fn export(
    catalog: &Catalog,
    policy: &Policy,
    format: ExportFormat,
    classes: &[Class],
) -> Result<String, ExportError> {
    export_with(catalog, policy, format, classes, &SystemResolver).map(|e| e.text)
}

/// A name or a domain: `subtree` means the name and all its sub-domains.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Entry {
    name: String,
    subtree: bool,
}

#[derive(Debug, Clone)]
struct Target {
    entry: Entry,
    class: Class,
}

/// What the catalog and policy say, before any format.
struct Plan {
    blocks: Vec<Target>,
    allows: Vec<Target>,
    /// Path rules that are violations on hosts that are not blocked: `host/path`.
    paths: BTreeSet<String>,
    local_rules: usize,
}

fn probe_verdict(catalog: &Catalog, policy: &Policy, probe: &str) -> (Verdict, Class) {
    let j = judge(Subject { host: Some(probe), path: None, server: None }, catalog, policy);
    (j.verdict, j.class)
}

fn plan(catalog: &Catalog, policy: &Policy, classes: &[Class]) -> Plan {
    let mut blocks: FxHashMap<Entry, Class> = FxHashMap::default();
    let mut allows: FxHashMap<Entry, Class> = FxHashMap::default();
    let mut paths = BTreeSet::new();
    let mut local_rules = 0;
    let patterns =
        catalog.exact.iter().map(|(k, s)| (k, s, false)).chain(catalog.suffix.iter().map(|(k, s)| (k, s, true)));
    for (key, slot, subtree) in patterns {
        let probe = if subtree { format!("*.{key}") } else { key.clone() };
        let entry = Entry { name: key.clone(), subtree };
        let host_rule = slot.host_level.map(|i| &catalog.rules[i as usize]);
        let (verdict, class) = probe_verdict(catalog, policy, &probe);
        let mut host_blocked = false;
        match host_rule.map(|r| r.class) {
            Some(Class::Local) => local_rules += 1,
            Some(Class::Unknown) => {
                allows.insert(entry, class);
            }
            _ if verdict == Verdict::Violation => {
                if classes.is_empty() || classes.contains(&class) {
                    blocks.insert(entry, class);
                    host_blocked = true;
                }
            }
            _ => {
                allows.insert(entry, class);
            }
        }
        if !host_blocked && !subtree {
            for &i in &slot.by_path {
                let r = &catalog.rules[i as usize];
                let j = judge(Subject { host: Some(key), path: r.path.as_deref(), server: None }, catalog, policy);
                if j.verdict == Verdict::Violation && (classes.is_empty() || classes.contains(&j.class)) {
                    paths.insert(format!("{}{}", r.host, r.path.as_deref().unwrap_or("")));
                }
            }
        }
    }
    let policy_patterns = policy.model_allow.iter().chain(policy.opt_in_hosts.iter());
    for p in policy_patterns {
        let (probe, entry) = match p {
            HostPattern::Any => continue,
            HostPattern::Exact(h) => (h.clone(), Entry { name: h.clone(), subtree: false }),
            HostPattern::Subdomains(dot) => {
                let bare = dot.trim_start_matches('.').to_string();
                (format!("*.{bare}"), Entry { name: bare, subtree: true })
            }
        };
        let (verdict, class) = probe_verdict(catalog, policy, &probe);
        if verdict != Verdict::Violation {
            allows.insert(entry, class);
        }
    }
    for e in &policy.local_allow {
        if let LocalEndpoint::Name { host, .. } = e {
            allows.insert(Entry { name: host.clone(), subtree: false }, Class::Local);
        }
    }
    blocks.retain(|e, _| !allows.contains_key(e));
    let to_targets = |m: FxHashMap<Entry, Class>| {
        let mut v: Vec<Target> = m.into_iter().map(|(entry, class)| Target { entry, class }).collect();
        v.sort_by(|a, b| a.entry.cmp(&b.entry));
        v
    };
    Plan { blocks: to_targets(blocks), allows: to_targets(allows), paths, local_rules }
}

/// The suffixes of a name from itself to its last label: a.b.c, b.c, c.
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(name);
    std::iter::from_fn(move || {
        let current = next?;
        next = current.find('.').map(|d| &current[d + 1..]);
        Some(current)
    })
}

/// Entries that enclose `e`: subtree entries for its name (when `e` is exact) and its parents.
fn encloser_names(e: &Entry) -> impl Iterator<Item = &str> {
    ancestors(&e.name).skip(usize::from(e.subtree))
}

/// One line of output, after the format's limits were applied.
#[derive(Debug, Clone)]
struct Placed {
    entry: Entry,
    block: bool,
    /// Number of enclosing entries written: blocks are even, exceptions odd.
    level: usize,
    class: Class,
}

struct Layout {
    placed: Vec<Placed>,
    notes: Vec<String>,
}

fn layout(plan: &Plan, format: ExportFormat) -> Layout {
    let caps = format.caps();
    let mut notes = Vec::new();
    let mut blocks: Vec<Target> = plan.blocks.clone();
    let mut allows: Vec<Target> = plan.allows.clone();
    if !caps.exact {
        for t in blocks.iter_mut().chain(allows.iter_mut()) {
            t.entry.subtree = true;
        }
        let allowed: FxHashSet<Entry> = allows.iter().map(|t| t.entry.clone()).collect();
        blocks.retain(|t| {
            let keep = !allowed.contains(&t.entry);
            if !keep {
                notes.push(format!(
                    "{} not blocked: {format} cannot block a name without its sub-domains, and names under it are allowed",
                    t.entry.name
                ));
            }
            keep
        });
        blocks.sort_by(|a, b| a.entry.cmp(&b.entry));
        blocks.dedup_by(|a, b| a.entry == b.entry);
        allows.sort_by(|a, b| a.entry.cmp(&b.entry));
        allows.dedup_by(|a, b| a.entry == b.entry);
    }
    if !caps.subtree {
        let (exact, subtree): (Vec<Target>, Vec<Target>) = blocks.into_iter().partition(|t| !t.entry.subtree);
        if !subtree.is_empty() {
            let names: Vec<String> = subtree.iter().map(|t| format!("*.{}", t.entry.name)).collect();
            notes.push(format!(
                "{} suffix rules not expressible ({format} matches exact names only): {}",
                names.len(),
                names.join(", ")
            ));
        }
        let placed =
            exact.into_iter().map(|t| Placed { entry: t.entry, block: true, level: 0, class: t.class }).collect();
        return Layout { placed, notes };
    }
    if !caps.exceptions {
        let subtree_blocks: FxHashSet<&str> =
            blocks.iter().filter(|t| t.entry.subtree).map(|t| t.entry.name.as_str()).collect();
        let mut dropped: BTreeSet<(String, String)> = BTreeSet::new();
        for a in &allows {
            for name in encloser_names(&a.entry) {
                if subtree_blocks.contains(name) {
                    dropped.insert((name.to_string(), a.entry.name.clone()));
                }
            }
        }
        let dropped_names: FxHashSet<&str> = dropped.iter().map(|(n, _)| n.as_str()).collect();
        blocks.retain(|t| !(t.entry.subtree && dropped_names.contains(t.entry.name.as_str())));
        for (name, allowed) in &dropped {
            notes.push(format!(
                "{name} and its sub-domains not blocked: {format} cannot exempt the allowed {allowed} under it"
            ));
        }
        allows.clear();
    }
    // Minimize: an entry whose nearest enclosing entry has the same action says nothing new; an
    // exception outside every block neither.
    let mut subtree_action: FxHashMap<&str, bool> = FxHashMap::default();
    for t in &allows {
        if t.entry.subtree {
            subtree_action.insert(&t.entry.name, false);
        }
    }
    for t in &blocks {
        if t.entry.subtree {
            subtree_action.entry(&t.entry.name).or_insert(true);
        }
    }
    let nearest = |e: &Entry| encloser_names(e).find_map(|n| subtree_action.get(n).copied());
    let mut kept: Vec<(Target, bool)> = Vec::new();
    for (t, block) in blocks.iter().map(|t| (t, true)).chain(allows.iter().map(|t| (t, false))) {
        let keep = match nearest(&t.entry) {
            Some(outer) => outer != block,
            None => block,
        };
        if keep {
            kept.push((t.clone(), block));
        }
    }
    let kept_subtrees: FxHashSet<&str> =
        kept.iter().filter(|(t, _)| t.entry.subtree).map(|(t, _)| t.entry.name.as_str()).collect();
    let mut placed: Vec<Placed> = kept
        .iter()
        .map(|(t, block)| Placed {
            entry: t.entry.clone(),
            block: *block,
            level: encloser_names(&t.entry).filter(|n| kept_subtrees.contains(n)).count(),
            class: t.class,
        })
        .collect();
    placed.sort_by(|a, b| (a.level, !a.block, a.class, &a.entry).cmp(&(b.level, !b.block, b.class, &b.entry)));
    Layout { placed, notes }
}

/// Exports with a given resolver (tests inject a fixed one).
pub fn export_with(
    catalog: &Catalog,
    policy: &Policy,
    format: ExportFormat,
    classes: &[Class],
    resolver: &dyn Resolve,
) -> Result<Export, ExportError> {
    for c in classes {
        if !(c.is_product() || *c == Class::Model) {
            return Err(ExportError {
                message: format!("class {c} is never exported (only model and product classes)"),
            });
        }
    }
    if matches!(format, ExportFormat::Suricata | ExportFormat::ZeekIntel) {
        return Ok(monitor_export(catalog, policy, format, classes));
    }
    let plan = plan(catalog, policy, classes);
    let Layout { placed, mut notes } = layout(&plan, format);
    if !plan.paths.is_empty() {
        notes.push(format!(
            "{} path rules not exported (a name-based blocker never sees request paths): {}",
            plan.paths.len(),
            plan.paths.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if plan.local_rules > 0 {
        notes.push(format!(
            "{} local catalog rules not exported (loopback names never leave the machine)",
            plan.local_rules
        ));
    }
    let classes_text = if classes.is_empty() {
        "all".to_string()
    } else {
        classes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
    };
    let mut header = vec![
        format!("egress-audit catalog export ({format}) for policy {} ({})", policy.name, policy.origin),
        format!("Blocks the catalog names whose verdict under the policy is a violation (classes: {classes_text})."),
        "Never blocked: the model endpoints, opted-in hosts and classes, and local names the policy allows.".into(),
    ];
    header.extend(format_explanation(format).iter().map(|s| s.to_string()));
    let blocked = placed.iter().filter(|p| p.block).count();
    let exceptions = placed.len() - blocked;
    let text = match format {
        ExportFormat::Nftables => {
            let (text, n, resolution_notes) = nftables(&plan, &placed, resolver, &header, &notes);
            notes.extend(resolution_notes);
            return Ok(Export { format, text, blocked: n, exceptions: 0, notes });
        }
        ExportFormat::Nextdns => nextdns(&placed)?,
        ExportFormat::LittleSnitch => little_snitch(policy, &placed, &header, &notes)?,
        ExportFormat::Opensnitch => opensnitch(policy, &placed, &header, &notes)?,
        _ => lines(format, &placed, &header, &notes),
    };
    Ok(Export { format, text, blocked, exceptions, notes })
}

/// Exports for network monitors: every catalog entry with its verdict, not only what is blocked.
fn monitor_export(catalog: &Catalog, policy: &Policy, format: ExportFormat, classes: &[Class]) -> Export {
    let plan = detect::plan(catalog, policy, classes);
    let header = vec![
        format!(
            "egress-audit catalog export ({format}) for policy {} ({})",
            detect::safe_text(&policy.name, &[]),
            detect::safe_text(&policy.origin, &[])
        ),
        "Every catalog name and path rule with its class, tool and verdict under the policy (local names excepted)."
            .to_string(),
    ];
    let (text, written, notes) = match format {
        ExportFormat::ZeekIntel => zeek::render(&plan, policy, &header),
        _ => suricata::render(&plan, policy, &header),
    };
    Export { format, text, blocked: written, exceptions: 0, notes }
}

fn format_explanation(format: ExportFormat) -> &'static [&'static str] {
    match format {
        ExportFormat::Hosts | ExportFormat::Pihole => {
            &["This format matches exact names only: the catalog's *.x rules cannot be expressed (listed below)."]
        }
        ExportFormat::Nftables => {
            &["A catalog suffix *.x cannot be resolved (its sub-domains are unknown): only exact names are resolved."]
        }
        ExportFormat::Dnsmasq => &[
            "address=/x/ also matches every sub-domain of x: catalog *.x rules are written as x (the apex x is blocked too),",
            "exact names block their sub-domains as well; allowed names under a blocked domain get server=/name/# (use the usual upstream).",
        ],
        ExportFormat::Unbound => &[
            "A local-zone covers the name and its sub-domains: catalog *.x rules are written as x (the apex x is blocked too),",
            "exact names block their sub-domains as well; allowed names under a blocked zone get a transparent local-zone.",
            "Include this file from unbound.conf (it starts its own server: clause).",
        ],
        ExportFormat::Adguard => &[
            "||x^ is x with its sub-domains (catalog *.x rules, the apex x is blocked too); |x^ the exact name;",
            "@@ exempts allowed names under a blocked domain; $important re-blocks names inside an exemption.",
        ],
        ExportFormat::Squid => &[
            "dstdomain .x is x with its sub-domains (catalog *.x rules, the apex x is blocked too); x alone is the exact name.",
            "Put these lines before your own http_access allow rules; HTTPS is matched by its CONNECT host.",
        ],
        _ => &[],
    }
}

fn lines(format: ExportFormat, placed: &[Placed], header: &[String], notes: &[String]) -> String {
    let c = format.comment().unwrap_or("#");
    let mut out = String::new();
    for h in header {
        let _ = writeln!(out, "{c} {h}");
    }
    for n in notes {
        let _ = writeln!(out, "{c} note: {n}");
    }
    if format == ExportFormat::Unbound {
        out.push_str("server:\n");
    }
    if format == ExportFormat::Squid {
        squid(&mut out, placed);
        return out;
    }
    let mut section: Option<(usize, bool, Class)> = None;
    for p in placed {
        let key = (p.level, p.block, p.class);
        if section != Some(key) {
            let what = match (p.block, p.level) {
                (true, 0) => format!("{} (blocked)", p.class),
                (true, _) => format!("{} (blocked again inside an exemption)", p.class),
                (false, _) => format!("{} (exempted: allowed by the policy)", p.class),
            };
            let _ = writeln!(out, "\n{c} {what}");
            section = Some(key);
        }
        let name = &p.entry.name;
        match format {
            ExportFormat::Hosts => {
                let _ = writeln!(out, "0.0.0.0 {name}\n:: {name}");
            }
            ExportFormat::Pihole => {
                let _ = writeln!(out, "{name}");
            }
            ExportFormat::Dnsmasq if p.block => {
                let _ = writeln!(out, "address=/{name}/0.0.0.0\naddress=/{name}/::");
            }
            ExportFormat::Dnsmasq => {
                let _ = writeln!(out, "server=/{name}/#");
            }
            ExportFormat::Unbound => {
                let kind = if p.block { "always_nxdomain" } else { "transparent" };
                let _ = writeln!(out, "    local-zone: \"{name}.\" {kind}");
            }
            ExportFormat::Adguard => {
                let anchor = if p.entry.subtree { "||" } else { "|" };
                let exempt = if p.block { "" } else { "@@" };
                let important = if p.block && p.level > 0 { "$important" } else { "" };
                let _ = writeln!(out, "{exempt}{anchor}{name}^{important}");
            }
            _ => {}
        }
    }
    out
}

fn squid(out: &mut String, placed: &[Placed]) {
    let acl = |level: usize| -> String {
        match (level, level.is_multiple_of(2)) {
            (0, _) => "egress_audit_deny".into(),
            (l, true) => format!("egress_audit_deny_{l}"),
            (l, false) => format!("egress_audit_allow_{l}"),
        }
    };
    let max_level = placed.iter().map(|p| p.level).max();
    let mut section: Option<(usize, Class)> = None;
    for p in placed {
        if section != Some((p.level, p.class)) {
            let what = if p.block { "blocked" } else { "exempted: allowed by the policy" };
            let _ = writeln!(out, "\n# {} ({what})", p.class);
            section = Some((p.level, p.class));
        }
        let dot = if p.entry.subtree { "." } else { "" };
        let _ = writeln!(out, "acl {} dstdomain {dot}{}", acl(p.level), p.entry.name);
    }
    if let Some(max) = max_level {
        out.push('\n');
        for level in (0..=max).step_by(2) {
            if level < max {
                let _ = writeln!(out, "http_access deny {} !{}", acl(level), acl(level + 1));
            } else {
                let _ = writeln!(out, "http_access deny {}", acl(level));
            }
        }
    }
}

fn json<T: Serialize>(value: &T) -> Result<String, ExportError> {
    serde_json::to_string_pretty(value).map(|s| s + "\n").map_err(|e| ExportError { message: e.to_string() })
}

fn nextdns(placed: &[Placed]) -> Result<String, ExportError> {
    #[derive(Serialize)]
    struct Item<'a> {
        id: &'a str,
        active: bool,
    }
    let mut names: Vec<&str> = placed.iter().filter(|p| p.block).map(|p| p.entry.name.as_str()).collect();
    names.sort_unstable();
    json(&names.into_iter().map(|id| Item { id, active: true }).collect::<Vec<_>>())
}

fn description(header: &[String], notes: &[String]) -> String {
    let mut d = header.join(" ");
    for n in notes {
        d.push_str(" Note: ");
        d.push_str(n);
        d.push('.');
    }
    d
}

fn little_snitch(
    policy: &Policy,
    placed: &[Placed],
    header: &[String],
    notes: &[String],
) -> Result<String, ExportError> {
    #[derive(Serialize)]
    struct LsRules {
        name: String,
        description: String,
        #[serde(rename = "denied-remote-domains")]
        denied_remote_domains: Vec<String>,
        #[serde(rename = "denied-remote-hosts")]
        denied_remote_hosts: Vec<String>,
    }
    let mut header = header.to_vec();
    header.push("denied-remote-domains are names with their sub-domains (catalog *.x rules, the apex is blocked too); denied-remote-hosts exact names.".into());
    let collect = |subtree: bool| {
        let mut v: Vec<String> =
            placed.iter().filter(|p| p.block && p.entry.subtree == subtree).map(|p| p.entry.name.clone()).collect();
        v.sort();
        v
    };
    json(&LsRules {
        name: format!("egress-audit: {} product traffic", policy.name),
        description: description(&header, notes),
        denied_remote_domains: collect(true),
        denied_remote_hosts: collect(false),
    })
}

fn regex_escape(name: &str) -> String {
    name.replace('.', "\\.")
}

fn opensnitch(policy: &Policy, placed: &[Placed], header: &[String], notes: &[String]) -> Result<String, ExportError> {
    #[derive(Serialize)]
    struct Operator {
        #[serde(rename = "type")]
        kind: &'static str,
        operand: &'static str,
        sensitive: bool,
        data: String,
    }
    #[derive(Serialize)]
    struct Rule {
        name: String,
        description: String,
        enabled: bool,
        precedence: bool,
        action: &'static str,
        duration: &'static str,
        operator: Operator,
    }
    let mut alternatives: Vec<String> = placed
        .iter()
        .filter(|p| p.block)
        .map(|p| {
            let n = regex_escape(&p.entry.name);
            if p.entry.subtree { format!("(.+\\.)?{n}") } else { n }
        })
        .collect();
    alternatives.sort();
    let data = if alternatives.is_empty() {
        // Matches no host name.
        "^$".to_string()
    } else {
        format!("^({})$", alternatives.join("|"))
    };
    let mut header = header.to_vec();
    header.push("The regular expression matches each blocked name, and its sub-domains for catalog *.x rules (the apex is blocked too).".into());
    json(&Rule {
        name: format!("egress-audit-deny-{}", policy.name),
        description: description(&header, notes),
        enabled: true,
        precedence: false,
        action: "deny",
        duration: "always",
        operator: Operator { kind: "regexp", operand: "dest.host", sensitive: false, data },
    })
}

fn nftables(
    plan: &Plan,
    placed: &[Placed],
    resolver: &dyn Resolve,
    header: &[String],
    notes: &[String],
) -> (String, usize, Vec<String>) {
    let mut extra = Vec::new();
    let mut resolved: Vec<(String, Vec<IpAddr>)> = Vec::new();
    for p in placed.iter().filter(|p| p.block) {
        match resolver.resolve(&p.entry.name) {
            Ok(ips) => resolved.push((p.entry.name.clone(), ips)),
            Err(e) => extra.push(format!("{} not resolved: {e}", p.entry.name)),
        }
    }
    // Addresses an allowed name uses are never blocked, even when a blocked name shares them.
    let mut allowed_ips: BTreeSet<IpAddr> = BTreeSet::new();
    for a in plan.allows.iter().filter(|a| !a.entry.subtree) {
        if let Ok(ips) = resolver.resolve(&a.entry.name) {
            allowed_ips.extend(ips);
        }
    }
    let subtree_allows: Vec<&str> =
        plan.allows.iter().filter(|a| a.entry.subtree).map(|a| a.entry.name.as_str()).collect();
    if !subtree_allows.is_empty() {
        extra.push(format!(
            "addresses of allowed sub-domains (*.{}) cannot be enumerated; only their apex names were resolved to keep shared addresses out",
            subtree_allows.join(", *.")
        ));
        for name in &subtree_allows {
            if let Ok(ips) = resolver.resolve(name) {
                allowed_ips.extend(ips);
            }
        }
    }
    let mut v4: BTreeSet<IpAddr> = BTreeSet::new();
    let mut v6: BTreeSet<IpAddr> = BTreeSet::new();
    let mut shared: BTreeSet<IpAddr> = BTreeSet::new();
    for (_, ips) in &resolved {
        for ip in ips {
            if allowed_ips.contains(ip) {
                shared.insert(*ip);
            } else if ip.is_ipv4() {
                v4.insert(*ip);
            } else {
                v6.insert(*ip);
            }
        }
    }
    if !shared.is_empty() {
        extra.push(format!(
            "{} addresses not blocked because allowed names resolve to them too: {}",
            shared.len(),
            shared.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    let mut out = String::new();
    for h in header {
        let _ = writeln!(out, "# {h}");
    }
    out.push_str(
        "#\n# NOTE: names were resolved to addresses AT EXPORT TIME through the resolver of the machine that\n",
    );
    out.push_str(
        "# ran the export. Addresses change (CDNs rotate them, answers differ by location): re-export often.\n",
    );
    out.push_str("# These are set definitions: place them inside a table and reference them, for example\n");
    out.push_str("#   table inet filter { <sets>; chain output { type filter hook output priority 0;\n");
    out.push_str("#     ip daddr @egress_audit_deny_v4 reject; ip6 daddr @egress_audit_deny_v6 reject } }\n");
    for n in notes.iter().chain(extra.iter()) {
        let _ = writeln!(out, "# note: {n}");
    }
    out.push_str("#\n# resolved:\n");
    for (name, ips) in &resolved {
        let list = ips.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" ");
        let _ = writeln!(out, "#   {name}: {}", if list.is_empty() { "-" } else { &list });
    }
    let set = |out: &mut String, name: &str, kind: &str, ips: &BTreeSet<IpAddr>| {
        let _ = writeln!(out, "set {name} {{\n\ttype {kind}");
        if !ips.is_empty() {
            let list = ips.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",\n\t\t");
            let _ = writeln!(out, "\telements = {{\n\t\t{list}\n\t}}");
        }
        out.push_str("}\n");
    };
    set(&mut out, "egress_audit_deny_v4", "ipv4_addr", &v4);
    set(&mut out, "egress_audit_deny_v6", "ipv6_addr", &v6);
    (out, v4.len() + v6.len(), extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_walk_to_the_last_label() {
        assert_eq!(ancestors("a.b.c").collect::<Vec<_>>(), vec!["a.b.c", "b.c", "c"]);
        let e = Entry { name: "a.b".into(), subtree: true };
        assert_eq!(encloser_names(&e).collect::<Vec<_>>(), vec!["b"]);
    }

    #[test]
    fn formats_round_trip_their_names() {
        for f in ExportFormat::ALL {
            assert_eq!(f.as_str().parse::<ExportFormat>(), Ok(f));
        }
    }
}
