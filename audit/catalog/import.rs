//! Importing community block lists into the catalog.
//!
//! Besides the native TOML format, [`import`] reads:
//!
//! | format | syntax | a name becomes |
//! |---|---|---|
//! | `hosts` | `0.0.0.0 name [name…]`, `127.0.0.1 name`, `:: name`, `# comments` | the exact name |
//! | `domains` | one name per line (Pi-hole "domains" lists); `*.name` allowed | the exact name (`*.name`: sub-domains) |
//! | `adblock` | AdGuard / uBlock DNS syntax: `\|\|name^`, `\|name^`, `@@\|\|name^`, `! comments` | `\|\|name^`: name and its sub-domains; `\|name^`: the exact name |
//! | `dnsmasq` | `address=/name/0.0.0.0`, `address=/name/`, `local=/name/`, `server=/name/`, `server=/name/#` | name and its sub-domains |
//!
//! "name and its sub-domains" becomes two catalog rules: the exact `name` and `*.name`.
//!
//! **Exceptions** (`@@||name^`, `@@|name^`, dnsmasq `server=/name/#`) say "this list does not block
//! this name". They act on the list they are in, never on other catalog files:
//! 1. rules of the same list for the excepted name are dropped; an AdGuard exception also drops
//!    the list's rules for names under it (`@@` beats every rule without `$important`), while in
//!    dnsmasq the most specific domain wins, so `address=/t.a.example/` inside `server=/a.example/#`
//!    stays;
//! 2. when a broader rule of the same list still covers the excepted name (`||example.com^` with
//!    `@@||cdn.example.com^`), [`Catalog::add_import`] adds a *carve-out*: a rule of class
//!    `unknown` for the excepted name (and `*.name`) that shadows the list's broader rule, so the
//!    name is judged as if no catalog rule matched it. A carve-out is only added where the list's
//!    own rule would be the match: shipped and user entries are never neutralized by an imported list.
//!
//! Lines are read one at a time (linear in the file size; 200,000 names are fine). A line that is
//! valid in its syntax but cannot be expressed as a catalog rule (cosmetic or URL rules, regular
//! expressions, `$` modifiers other than `$important`, hosts lines mapping a name to a real address,
//! dnsmasq forwarding) is skipped and counted; a line that is not valid is an error naming the line.

use super::{Catalog, Class, Rule, load};
use rustc_hash::FxHashSet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

/// The syntax of an imported file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportFormat {
    /// Detect from the content: `[[entry]]` tables are TOML; `||`, `|…^` or `@@` lines are AdGuard;
    /// `address=/`, `server=/` or `local=/` lines are dnsmasq; a first line `ADDRESS NAME` is a hosts
    /// file; anything else a plain domain list.
    Auto,
    /// The native catalog format (`[[entry]]` tables).
    Toml,
    Hosts,
    Domains,
    Adblock,
    Dnsmasq,
}

impl ImportFormat {
    pub const ALL: [ImportFormat; 6] = [
        ImportFormat::Auto,
        ImportFormat::Toml,
        ImportFormat::Hosts,
        ImportFormat::Domains,
        ImportFormat::Adblock,
        ImportFormat::Dnsmasq,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Auto => "auto",
            ImportFormat::Toml => "toml",
            ImportFormat::Hosts => "hosts",
            ImportFormat::Domains => "domains",
            ImportFormat::Adblock => "adblock",
            ImportFormat::Dnsmasq => "dnsmasq",
        }
    }

    /// The format `Auto` stands for with this content; other formats stay as they are.
    pub fn resolve(self, text: &str) -> ImportFormat {
        if self != ImportFormat::Auto {
            return self;
        }
        if text.lines().any(|l| l.trim() == "[[entry]]") {
            return ImportFormat::Toml;
        }
        let mut first: Option<&str> = None;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') || line.starts_with('[') {
                continue;
            }
            if line.starts_with("||") || line.starts_with("@@") || (line.starts_with('|') && line.contains('^')) {
                return ImportFormat::Adblock;
            }
            if ["address=/", "server=/", "local=/"].iter().any(|p| line.starts_with(p)) {
                return ImportFormat::Dnsmasq;
            }
            first.get_or_insert(line);
        }
        match first {
            Some(line) if line.split_whitespace().next().is_some_and(|t| t.parse::<IpAddr>().is_ok()) => {
                ImportFormat::Hosts
            }
            _ => ImportFormat::Domains,
        }
    }
}

impl fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ImportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = match s {
            "adguard" | "ublock" | "abp" => "adblock",
            "plain" | "list" => "domains",
            "native" | "catalog" => "toml",
            other => other,
        };
        ImportFormat::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| {
            format!(
                "unknown import format {s:?} (expected one of: {})",
                ImportFormat::ALL.map(|f| f.as_str()).join(", ")
            )
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub origin: String,
    /// 1-based line of the offending line (0 when the file as a whole is wrong).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "catalog {}:{}: {}", self.origin, self.line, self.message)
    }
}

impl std::error::Error for ImportError {}

impl From<load::CatalogError> for ImportError {
    fn from(e: load::CatalogError) -> ImportError {
        ImportError { origin: e.origin, line: e.line, message: e.message }
    }
}

/// "This list does not block this name" (`@@||name^`, `@@|name^`, `server=/name/#`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    /// Normalized name, without `*.`.
    pub host: String,
    /// The exception also covers the name's sub-domains.
    pub subdomains: bool,
    /// It also overrides the list's more specific rules (AdGuard: an exception beats every rule
    /// without `$important`); otherwise (dnsmasq) the most specific domain still wins.
    pub deep: bool,
    pub line: usize,
}

/// What one file holds, before it is merged into a catalog.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The format actually read (never `Auto`).
    pub format: ImportFormat,
    /// Rules of the list, exceptions already applied (step 1 in the module docs), in file order.
    pub rules: Vec<Rule>,
    pub exceptions: Vec<Exception>,
    /// Rules of the list that an exception dropped.
    pub excepted: usize,
    /// Valid lines that cannot be expressed as catalog rules.
    pub skipped: usize,
    /// The first few skipped lines: (line, why).
    pub skipped_examples: Vec<(usize, String)>,
}

/// What [`Catalog::add_import`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub format: ImportFormat,
    /// Rules added to the catalog.
    pub added: usize,
    /// Imported names whose `(host, path)` the catalog already had: the existing rule is kept
    /// (block lists never replace curated entries; TOML files do, as documented).
    pub kept_existing: usize,
    pub exceptions: usize,
    /// Rules of the list dropped by its own exceptions.
    pub excepted: usize,
    /// Carve-out rules (class `unknown`) added for exceptions.
    pub carve_outs: usize,
    pub skipped: usize,
    pub skipped_examples: Vec<(usize, String)>,
}

const SKIPPED_EXAMPLES: usize = 10;

/// Parses one file. `class` and `tool` are assigned to every name of a block list (ignored for
/// TOML, whose entries carry their own); `class` may not be `unknown` or `dns`.
pub fn import(
    text: &str,
    origin: &str,
    format: ImportFormat,
    class: Class,
    tool: &str,
) -> Result<Imported, ImportError> {
    let format = format.resolve(text);
    if format == ImportFormat::Toml {
        let rules = load::parse(text, origin)?;
        return Ok(Imported {
            format,
            rules,
            exceptions: Vec::new(),
            excepted: 0,
            skipped: 0,
            skipped_examples: Vec::new(),
        });
    }
    let err = |line: usize, message: String| ImportError { origin: origin.to_string(), line, message };
    if matches!(class, Class::Unknown | Class::Dns) {
        return Err(err(0, format!("class {class} is assigned by the analysis, not by the catalog")));
    }
    if tool.is_empty() {
        return Err(err(0, "the tool of imported names must not be empty".into()));
    }
    let origin_arc: Arc<str> = Arc::from(origin);
    let note: Arc<str> = Arc::from(format!("listed in a {format} block list"));
    let mut out = Imported {
        format,
        rules: Vec::new(),
        exceptions: Vec::new(),
        excepted: 0,
        skipped: 0,
        skipped_examples: Vec::new(),
    };
    let mut seen: FxHashSet<String> = FxHashSet::default();
    let mut important: FxHashSet<String> = FxHashSet::default();
    let mut push = |out: &mut Imported, host: String, line: usize| {
        if seen.contains(&host) {
            return;
        }
        seen.insert(host.clone());
        out.rules.push(Rule {
            host,
            path: None,
            class,
            tool: tool.to_string(),
            note: note.to_string(),
            source: origin.to_string(),
            origin: origin_arc.clone(),
            line,
        });
    };
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let item = match format {
            ImportFormat::Hosts => parse_hosts_line(raw),
            ImportFormat::Domains => parse_domain_line(raw),
            ImportFormat::Adblock => parse_adblock_line(raw),
            ImportFormat::Dnsmasq => parse_dnsmasq_line(raw),
            ImportFormat::Auto | ImportFormat::Toml => Ok(Vec::new()),
        }
        .map_err(|m| err(line, m))?;
        let mut important_line = false;
        for item in item {
            let patterns = match item {
                Item::Exact(h) => vec![h],
                Item::Suffix(h) => vec![format!("*.{h}")],
                Item::Subtree(h) => vec![format!("*.{h}"), h],
                other => {
                    match other {
                        Item::Except { host, subdomains, deep } => {
                            out.exceptions.push(Exception { host, subdomains, deep, line })
                        }
                        Item::Important => important_line = true,
                        Item::Skip(why) => {
                            out.skipped += 1;
                            if out.skipped_examples.len() < SKIPPED_EXAMPLES {
                                out.skipped_examples.push((line, why));
                            }
                        }
                        Item::Exact(_) | Item::Suffix(_) | Item::Subtree(_) => {}
                    }
                    continue;
                }
            };
            for pattern in patterns {
                if important_line {
                    important.insert(pattern.clone());
                }
                push(&mut out, pattern, line);
            }
        }
    }
    apply_exceptions(&mut out, &important);
    Ok(out)
}

/// Step 1: drop the list's own rules for excepted names.
///
/// A rule is dropped when an exception names exactly its name (an exact exception drops the exact
/// rule, a sub-domain exception both), or when a `deep` sub-domain exception covers it from a parent
/// and it is not `$important`.
fn apply_exceptions(out: &mut Imported, important: &FxHashSet<String>) {
    if out.exceptions.is_empty() {
        return;
    }
    let exact: FxHashSet<&str> = out.exceptions.iter().filter(|e| !e.subdomains).map(|e| e.host.as_str()).collect();
    let subtree: FxHashSet<&str> = out.exceptions.iter().filter(|e| e.subdomains).map(|e| e.host.as_str()).collect();
    let deep: FxHashSet<&str> =
        out.exceptions.iter().filter(|e| e.subdomains && e.deep).map(|e| e.host.as_str()).collect();
    let under_deep = |name: &str| {
        let mut rest = name;
        loop {
            if deep.contains(rest) {
                return true;
            }
            match rest.find('.') {
                Some(dot) => rest = &rest[dot + 1..],
                None => return false,
            }
        }
    };
    let before = out.rules.len();
    let mut keep = Vec::with_capacity(before);
    for rule in std::mem::take(&mut out.rules) {
        let is_important = important.contains(&rule.host);
        let dropped = match rule.host.strip_prefix("*.") {
            Some(suffix) => subtree.contains(suffix) || (!is_important && under_deep(suffix)),
            None => {
                exact.contains(rule.host.as_str())
                    || subtree.contains(rule.host.as_str())
                    || (!is_important && under_deep(&rule.host))
            }
        };
        if !dropped {
            keep.push(rule);
        }
    }
    out.excepted = before - keep.len();
    out.rules = keep;
}

impl Catalog {
    /// Imports one file (see [`import`]) and merges it: TOML entries replace entries with the same
    /// host and path (as [`Catalog::add_toml`]); block-list names are added unless the catalog
    /// already has a rule for the same host pattern, which is kept. Exceptions then add carve-outs
    /// (module docs, step 2).
    pub fn add_import(
        &mut self,
        text: &str,
        origin: &str,
        format: ImportFormat,
        class: Class,
        tool: &str,
    ) -> Result<ImportSummary, ImportError> {
        let imported = import(text, origin, format, class, tool)?;
        let mut summary = ImportSummary {
            format: imported.format,
            added: 0,
            kept_existing: 0,
            exceptions: imported.exceptions.len(),
            excepted: imported.excepted,
            carve_outs: 0,
            skipped: imported.skipped,
            skipped_examples: imported.skipped_examples,
        };
        if imported.format == ImportFormat::Toml {
            summary.added = imported.rules.len();
            for rule in imported.rules {
                self.insert(rule);
            }
            return Ok(summary);
        }
        let mut list_origin: Option<Arc<str>> = None;
        for rule in imported.rules {
            if self.has_host_level(&rule.host) {
                summary.kept_existing += 1;
                continue;
            }
            list_origin.get_or_insert_with(|| rule.origin.clone());
            self.insert(rule);
            summary.added += 1;
        }
        let Some(list_origin) = list_origin else {
            return Ok(summary);
        };
        for e in &imported.exceptions {
            let mut probes = vec![e.host.clone()];
            if e.subdomains {
                probes.push(format!("*.{}", e.host));
            }
            for probe in probes {
                let from_list = self.lookup(&probe, None).is_some_and(|r| Arc::ptr_eq(&r.origin, &list_origin));
                if !from_list || self.has_host_level(&probe) {
                    continue;
                }
                self.insert(Rule {
                    host: probe,
                    path: None,
                    class: Class::Unknown,
                    tool: tool.to_string(),
                    note: format!("exception in {origin} (line {}): not blocked by this list", e.line),
                    source: origin.to_string(),
                    origin: list_origin.clone(),
                    line: e.line,
                });
                summary.carve_outs += 1;
            }
        }
        Ok(summary)
    }

    /// Whether a host-level rule (no path) exists for exactly this pattern (`name` or `*.suffix`).
    pub(super) fn has_host_level(&self, pattern: &str) -> bool {
        let slot = match pattern.strip_prefix("*.") {
            Some(suffix) => self.suffix.get(suffix),
            None => self.exact.get(pattern),
        };
        slot.is_some_and(|s| s.host_level.is_some())
    }
}

/// One meaning of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// Exactly this name.
    Exact(String),
    /// Strict sub-domains of this name (`*.name`).
    Suffix(String),
    /// The name and its sub-domains.
    Subtree(String),
    Except {
        host: String,
        subdomains: bool,
        deep: bool,
    },
    /// The next items of this line are `$important` (AdGuard): exceptions do not remove them.
    Important,
    Skip(String),
}

/// Strips a `#` comment that starts the line or follows whitespace.
fn strip_hash_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return line[..i].trim();
        }
    }
    line.trim()
}

/// Lowercases, strips one trailing dot and checks a host name: labels of letters, digits, `-`
/// and `_`, 1–63 bytes each, 253 bytes at most.
pub(crate) fn normalize_name(raw: &str) -> Result<String, String> {
    let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        });
    if ok { Ok(name) } else { Err(format!("{raw:?} is not a host name")) }
}

/// Names a hosts file maps for the machine itself, not block entries.
fn is_hosts_boilerplate(name: &str) -> bool {
    matches!(name, "localhost" | "localhost.localdomain" | "local" | "broadcasthost" | "localdomain")
        || name.starts_with("ip6-")
        || name.parse::<IpAddr>().is_ok()
}

fn is_blocking_address(ip: IpAddr) -> bool {
    ip.is_unspecified() || ip.is_loopback()
}

fn parse_hosts_line(raw: &str) -> Result<Vec<Item>, String> {
    let line = strip_hash_comment(raw);
    if line.is_empty() {
        return Ok(Vec::new());
    }
    let mut tokens = line.split_whitespace();
    let address = tokens.next().unwrap_or_default();
    let Ok(ip) = address.parse::<IpAddr>() else {
        return Err(format!("expected `ADDRESS NAME…`, and {address:?} is not an address"));
    };
    let names: Vec<&str> = tokens.collect();
    if names.is_empty() {
        return Err(format!("address {address} without a name"));
    }
    if !is_blocking_address(ip) {
        return Ok(vec![Item::Skip(format!("{address} is a real address, not a block"))]);
    }
    let mut items = Vec::with_capacity(names.len());
    for raw_name in names {
        let lower = raw_name.to_ascii_lowercase();
        if is_hosts_boilerplate(lower.trim_end_matches('.')) {
            continue;
        }
        items.push(Item::Exact(normalize_name(raw_name)?));
    }
    Ok(items)
}

fn parse_domain_line(raw: &str) -> Result<Vec<Item>, String> {
    let line = strip_hash_comment(raw);
    if line.is_empty() {
        return Ok(Vec::new());
    }
    let mut tokens = line.split_whitespace();
    let token = tokens.next().unwrap_or_default();
    if tokens.next().is_some() {
        return Err("expected one domain name per line".into());
    }
    if let Some(suffix) = token.strip_prefix("*.") {
        return Ok(vec![Item::Suffix(normalize_name(suffix)?)]);
    }
    if token.parse::<IpAddr>().is_ok() {
        return Err(format!("{token:?} is an address, not a domain name"));
    }
    Ok(vec![Item::Exact(normalize_name(token)?)])
}

fn parse_adblock_line(raw: &str) -> Result<Vec<Item>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('!') || line.starts_with('#') || line.starts_with('[') {
        return Ok(Vec::new());
    }
    if ["##", "#@#", "#?#", "#$#", "#%#"].iter().any(|m| line.contains(m)) {
        return Ok(vec![Item::Skip("cosmetic rule".into())]);
    }
    let (allow, rule) = match line.strip_prefix("@@") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (body, modifiers) = match rule.split_once('$') {
        Some((body, modifiers)) => (body, Some(modifiers)),
        None => (rule, None),
    };
    if let Some(m) = modifiers
        && m.split(',').any(|m| m.trim() != "important")
    {
        return Ok(vec![Item::Skip(format!("modifier ${m} is not supported"))]);
    }
    let mut items = if modifiers.is_some() { vec![Item::Important] } else { Vec::new() };
    items.extend(parse_adblock_body(allow, body)?);
    Ok(items)
}

fn parse_adblock_body(allow: bool, body: &str) -> Result<Vec<Item>, String> {
    if body.len() > 1 && body.starts_with('/') && body.ends_with('/') {
        return Ok(vec![Item::Skip("regular expression rule".into())]);
    }
    let (subtree, rest) = if let Some(rest) = body.strip_prefix("||") {
        (true, rest)
    } else if let Some(rest) = body.strip_prefix('|') {
        (false, rest)
    } else {
        // Hosts-style lines and bare names are valid in AdGuard lists.
        if !allow && body.split_whitespace().count() > 1 {
            return parse_hosts_line(body);
        }
        if body.contains(['/', '*', '^', '|', ':']) {
            return Ok(vec![Item::Skip("URL or wildcard rule".into())]);
        }
        let name = normalize_name(body)?;
        return Ok(vec![if allow {
            Item::Except { host: name, subdomains: false, deep: true }
        } else {
            Item::Exact(name)
        }]);
    };
    let Some(host) = rest.strip_suffix('^').or_else(|| rest.strip_suffix("^|")) else {
        if rest.is_empty() {
            return Err("empty rule".into());
        }
        return Ok(vec![Item::Skip("rule without `^` separator (not a whole host name)".into())]);
    };
    if host.is_empty() {
        return Err("rule without a host name".into());
    }
    if host.contains(['/', ':']) || host.trim_start_matches("*.").contains('*') {
        return Ok(vec![Item::Skip("URL or wildcard rule".into())]);
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        let name = normalize_name(suffix)?;
        // `||*.name^`: sub-domains only.
        return Ok(vec![if allow {
            Item::Except { host: name, subdomains: true, deep: true }
        } else {
            Item::Suffix(name)
        }]);
    }
    let name = normalize_name(host)?;
    Ok(vec![match (allow, subtree) {
        (true, subdomains) => Item::Except { host: name, subdomains, deep: true },
        (false, true) => Item::Subtree(name),
        (false, false) => Item::Exact(name),
    }])
}

fn parse_dnsmasq_line(raw: &str) -> Result<Vec<Item>, String> {
    let line = strip_hash_comment(raw);
    if line.is_empty() {
        return Ok(Vec::new());
    }
    let (key, value) = line.split_once('=').unwrap_or((line, ""));
    let key = key.trim();
    if !matches!(key, "address" | "server" | "local") {
        let option_like = !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
        if option_like {
            return Ok(vec![Item::Skip(format!("dnsmasq option {key} is not a block"))]);
        }
        return Err("expected `address=/name/…`, `server=/name/…`, `local=/name/` or a dnsmasq option".into());
    }
    let Some(spec) = value.trim().strip_prefix('/') else {
        if key == "server" {
            return Ok(vec![Item::Skip("upstream server without a domain".into())]);
        }
        return Err(format!("{key}= needs /domain/ parts"));
    };
    let Some((domains, target)) = spec.rsplit_once('/') else {
        return Err(format!("{key}= needs a closing / after the domain"));
    };
    let target = target.trim();
    enum Meaning {
        Block,
        Except,
        Skip(String),
    }
    let meaning = match key {
        "address" => {
            let null = target.is_empty() || target == "#" || target.parse::<IpAddr>().is_ok_and(is_blocking_address);
            if null {
                Meaning::Block
            } else if target.parse::<IpAddr>().is_ok() {
                Meaning::Skip(format!("address {target} redirects, it does not block"))
            } else {
                return Err(format!("{target:?} is not an address"));
            }
        }
        "local" => Meaning::Block,
        _ => match target {
            "" => Meaning::Block,
            "#" => Meaning::Except,
            _ => Meaning::Skip(format!("forwarding to {target} is not a block")),
        },
    };
    if let Meaning::Skip(why) = meaning {
        return Ok(vec![Item::Skip(why)]);
    }
    let mut items = Vec::new();
    for domain in domains.split('/') {
        let domain = domain.trim();
        if domain == "#" {
            return Err("/#/ matches every name; refusing to import it".into());
        }
        if domain.is_empty() {
            return Err("empty domain (// means unqualified names) is not supported".into());
        }
        if let Some(suffix) = domain.strip_prefix("*.") {
            let name = normalize_name(suffix)?;
            items.push(match meaning {
                Meaning::Except => Item::Except { host: name, subdomains: true, deep: false },
                _ => Item::Suffix(name),
            });
            continue;
        }
        if domain.contains('*') {
            items.push(Item::Skip("wildcard inside a label".into()));
            continue;
        }
        let name = normalize_name(domain.trim_start_matches('.'))?;
        items.push(match meaning {
            Meaning::Except => Item::Except { host: name, subdomains: true, deep: false },
            _ => Item::Subtree(name),
        });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adblock_lines() {
        assert_eq!(parse_adblock_line("||a.example^"), Ok(vec![Item::Subtree("a.example".into())]));
        assert_eq!(parse_adblock_line("|a.example^"), Ok(vec![Item::Exact("a.example".into())]));
        assert_eq!(
            parse_adblock_line("@@||a.example^"),
            Ok(vec![Item::Except { host: "a.example".into(), subdomains: true, deep: true }])
        );
        assert_eq!(
            parse_adblock_line("||a.example^$important"),
            Ok(vec![Item::Important, Item::Subtree("a.example".into())])
        );
        assert!(matches!(parse_adblock_line("||a.example^$client=1.2.3.4").as_deref(), Ok([Item::Skip(_)])));
        assert!(parse_adblock_line("||^").is_err());
        assert!(parse_adblock_line("||a b^").is_err());
    }

    #[test]
    fn hash_comments_need_whitespace() {
        assert_eq!(strip_hash_comment("0.0.0.0 a.example # x"), "0.0.0.0 a.example");
        assert_eq!(strip_hash_comment("# all"), "");
    }
}
