//! The catalog as a product: import, lint, export (golden files checked by the real consumers) and
//! policy drift.
//!
//! Goldens: `tests/export_golden/<format>.txt`, the built-in catalog under the claude-code profile
//! (nftables with a fixed fake resolver). Regenerate with
//! `EGRESS_AUDIT_REGENERATE_GOLDEN=1 cargo test --test catalog_product`.
//!
//! The consumers must be installed (CI does): `apt-get install -y dnsmasq-base unbound squid nftables`.
//! `nft -c` needs root (CAP_NET_ADMIN); without it that one check says so and is skipped.

use egress_audit::catalog::diff::{self, ListFormat, ListKind};
use egress_audit::catalog::export::{self, ExportFormat, Resolve};
use egress_audit::catalog::import::{self, ImportFormat};
use egress_audit::catalog::lint::{self, LintKind};
use egress_audit::catalog::{Catalog, Class};
use egress_audit::policy::Policy;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

fn builtin() -> Catalog {
    Catalog::builtin().unwrap_or_else(|e| panic!("{e}"))
}

fn profile(name: &str) -> Policy {
    Policy::profile(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Deterministic addresses from documentation ranges: a name always gets the same ones.
struct FakeResolver;

impl Resolve for FakeResolver {
    fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        if name.starts_with("unresolvable.") {
            return Err("no such name".into());
        }
        let h = name.bytes().fold(2166136261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16777619));
        let v4: IpAddr = format!("198.51.{}.{}", (h >> 8) % 256, h % 250 + 1).parse().map_err(|_| "v4".to_string())?;
        let v6: IpAddr = format!("2001:db8::{:x}", h % 0xffff + 1).parse().map_err(|_| "v6".to_string())?;
        Ok(vec![v4, v6])
    }
}

fn export_text(catalog: &Catalog, policy: &Policy, format: ExportFormat) -> String {
    export::export_with(catalog, policy, format, &[], &FakeResolver).unwrap_or_else(|e| panic!("{e}")).text
}

fn golden_path(format: ExportFormat) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export_golden").join(format!("{}.txt", format.as_str()))
}

#[test]
fn export_goldens_match() {
    let catalog = builtin();
    let policy = profile("claude-code");
    let regenerate = std::env::var_os("EGRESS_AUDIT_REGENERATE_GOLDEN").is_some();
    let mut stale = Vec::new();
    for format in ExportFormat::ALL {
        let text = export_text(&catalog, &policy, format);
        let path = golden_path(format);
        if regenerate {
            std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if want != text {
            stale.push(format.as_str());
        }
    }
    assert!(
        stale.is_empty(),
        "export differs from tests/export_golden for {stale:?}; if the change is intended, run \
         EGRESS_AUDIT_REGENERATE_GOLDEN=1 cargo test --test catalog_product and review the diff"
    );
}

/// The path of a consumer binary, or a failure saying how to install it.
fn tool(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed: run `apt-get install -y {package}` (CI installs it)");
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn check_dnsmasq(dir: &Path, text: &str) {
    let file = dir.join("export.dnsmasq.conf");
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    let (ok, out) =
        run(Command::new(tool("dnsmasq", "dnsmasq-base")).arg("--test").arg(format!("--conf-file={}", file.display())));
    assert!(ok && out.contains("syntax check OK"), "dnsmasq --test rejected the export: {out}");
}

fn check_unbound(dir: &Path, text: &str) {
    let file = dir.join("export.unbound.conf");
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    let conf = dir.join("unbound.conf");
    let main = format!(
        "server:\n  chroot: \"\"\n  username: \"\"\n  directory: \"{}\"\n  pidfile: \"\"\n  use-syslog: no\ninclude: \"{}\"\n",
        dir.display(),
        file.display()
    );
    std::fs::write(&conf, main).unwrap_or_else(|e| panic!("{e}"));
    let (ok, out) = run(Command::new(tool("unbound-checkconf", "unbound")).arg(&conf));
    assert!(ok && out.contains("no errors"), "unbound-checkconf rejected the export: {out}");
}

fn check_squid(dir: &Path, text: &str) {
    let file = dir.join("export.squid.conf");
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    let conf = dir.join("squid.conf");
    std::fs::write(&conf, format!("http_port 127.0.0.1:3128\ninclude {}\nhttp_access deny all\n", file.display()))
        .unwrap_or_else(|e| panic!("{e}"));
    let (ok, out) = run(Command::new(tool("squid", "squid")).args(["-k", "parse", "-f"]).arg(&conf));
    let complaints: Vec<&str> =
        out.lines().filter(|l| l.contains("WARNING") || l.contains("ERROR") || l.contains("FATAL")).collect();
    assert!(ok && complaints.is_empty(), "squid -k parse complained about the export: {complaints:?}\n{out}");
}

fn check_nft(dir: &Path, text: &str) {
    let nft = tool("nft", "nftables");
    let file = dir.join("export.nft");
    std::fs::write(&file, format!("table inet egress_audit_test {{\n{text}}}\n")).unwrap_or_else(|e| panic!("{e}"));
    let (ok, out) = run(Command::new(nft).arg("-c").arg("-f").arg(&file));
    if !ok && (out.contains("Operation not permitted") || out.contains("Permission denied")) {
        eprintln!("skipping nft -c: needs root (CAP_NET_ADMIN): {out}");
        return;
    }
    assert!(ok, "nft -c rejected the export: {out}");
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON: {e}\n{text}"))
}

fn check_nextdns(text: &str) {
    let v = json(text);
    let items = v.as_array().unwrap_or_else(|| panic!("nextdns: not an array"));
    for item in items {
        let o = item.as_object().unwrap_or_else(|| panic!("nextdns: item not an object"));
        let keys: Vec<&str> = o.keys().map(String::as_str).collect();
        assert_eq!(keys, ["active", "id"], "nextdns denylist items are {{id, active}}");
        assert!(o["id"].as_str().is_some_and(|s| !s.is_empty() && !s.starts_with('.')) && o["active"] == true);
    }
}

fn check_lsrules(text: &str) {
    // https://help.obdev.at/littlesnitch4/ref-lsrules-file-format: top-level keys.
    const KEYS: [&str; 7] = [
        "name",
        "description",
        "rules",
        "denied-remote-domains",
        "denied-remote-hosts",
        "denied-remote-addresses",
        "denied-remote-notes",
    ];
    let v = json(text);
    let o = v.as_object().unwrap_or_else(|| panic!("lsrules: not an object"));
    for k in o.keys() {
        assert!(KEYS.contains(&k.as_str()), "lsrules: unknown top-level key {k}");
    }
    assert!(o["name"].is_string() && o["description"].is_string());
    for k in ["denied-remote-domains", "denied-remote-hosts"] {
        let list = o[k].as_array().unwrap_or_else(|| panic!("lsrules: {k} not an array"));
        assert!(list.iter().all(|d| d.as_str().is_some_and(|s| !s.contains('*') && !s.starts_with('.'))));
    }
}

fn check_opensnitch(text: &str) -> regex_lite_free::Re {
    // https://github.com/evilsocket/opensnitch/wiki/Rules: rule fields.
    const KEYS: [&str; 11] = [
        "created",
        "updated",
        "name",
        "description",
        "enabled",
        "precedence",
        "nolog",
        "action",
        "duration",
        "operator",
        "list",
    ];
    let v = json(text);
    let o = v.as_object().unwrap_or_else(|| panic!("opensnitch: not an object"));
    for k in o.keys() {
        assert!(KEYS.contains(&k.as_str()), "opensnitch: unknown rule key {k}");
    }
    assert_eq!(
        (o["enabled"].clone(), o["action"].clone(), o["duration"].clone()),
        (true.into(), "deny".into(), "always".into())
    );
    let op = o["operator"].as_object().unwrap_or_else(|| panic!("opensnitch: operator"));
    assert_eq!((op["type"].as_str(), op["operand"].as_str()), (Some("regexp"), Some("dest.host")));
    let data = op["data"].as_str().unwrap_or_default();
    regex_lite_free::Re::parse(data)
}

/// A tiny matcher for the exact shape the OpenSnitch export writes: `^(alt|alt|…)$` where each
/// alternative is `name` or `(.+\.)?name` with escaped dots (no regex crate in the dependencies).
mod regex_lite_free {
    pub struct Re(Vec<(bool, String)>);
    impl Re {
        pub fn parse(data: &str) -> Re {
            if data == "^$" {
                return Re(Vec::new());
            }
            let inner =
                data.strip_prefix("^(").and_then(|d| d.strip_suffix(")$")).unwrap_or_else(|| panic!("shape: {data}"));
            Re(inner
                .split('|')
                .map(|alt| match alt.strip_prefix("(.+\\.)?") {
                    Some(n) => (true, n.replace("\\.", ".")),
                    None => (false, alt.replace("\\.", ".")),
                })
                .collect())
        }
        pub fn matches(&self, host: &str) -> bool {
            self.0.iter().any(|(sub, n)| host == n || (*sub && host.ends_with(&format!(".{n}"))))
        }
    }
}

#[test]
fn exports_are_accepted_by_their_consumers() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let catalog = builtin();
    for profile_name in ["claude-code", "copilot", "local-only"] {
        let policy = profile(profile_name);
        check_dnsmasq(dir.path(), &export_text(&catalog, &policy, ExportFormat::Dnsmasq));
        check_unbound(dir.path(), &export_text(&catalog, &policy, ExportFormat::Unbound));
        check_squid(dir.path(), &export_text(&catalog, &policy, ExportFormat::Squid));
        check_nft(dir.path(), &export_text(&catalog, &policy, ExportFormat::Nftables));
        check_nextdns(&export_text(&catalog, &policy, ExportFormat::Nextdns));
        check_lsrules(&export_text(&catalog, &policy, ExportFormat::LittleSnitch));
        check_opensnitch(&export_text(&catalog, &policy, ExportFormat::Opensnitch));
    }
    // The goldens themselves, byte for byte as committed.
    for (format, check) in [
        (ExportFormat::Dnsmasq, check_dnsmasq as fn(&Path, &str)),
        (ExportFormat::Unbound, check_unbound),
        (ExportFormat::Squid, check_squid),
        (ExportFormat::Nftables, check_nft),
    ] {
        let text = std::fs::read_to_string(golden_path(format)).unwrap_or_default();
        check(dir.path(), &text);
    }
}

/// Re-reads a line-format export with our own importer: which names would it block?
fn blocked_by(text: &str, format: ImportFormat) -> Catalog {
    let mut c = Catalog::default();
    c.add_import(text, "export", format, Class::Telemetry, "export").unwrap_or_else(|e| panic!("{e}"));
    c
}

fn is_blocked(c: &Catalog, host: &str) -> bool {
    c.lookup(host, None).is_some_and(|r| r.class != Class::Unknown)
}

#[test]
fn the_chosen_model_is_never_blocked() {
    let catalog = builtin();
    for (profile_name, allowed, denied) in [
        ("claude-code", "api.anthropic.com", "statsig.anthropic.com"),
        ("codex", "api.openai.com", "ab.chatgpt.com"),
        ("copilot", "api.individual.githubcopilot.com", "telemetry.individual.githubcopilot.com"),
        ("gemini", "generativelanguage.googleapis.com", "play.googleapis.com"),
    ] {
        let policy = profile(profile_name);
        for (format, import_as) in [
            (ExportFormat::Hosts, ImportFormat::Hosts),
            (ExportFormat::Pihole, ImportFormat::Domains),
            (ExportFormat::Dnsmasq, ImportFormat::Dnsmasq),
            (ExportFormat::Adguard, ImportFormat::Adblock),
        ] {
            let c = blocked_by(&export_text(&catalog, &policy, format), import_as);
            assert!(!is_blocked(&c, allowed), "{format} under {profile_name} blocks {allowed}");
            assert!(is_blocked(&c, denied), "{format} under {profile_name} does not block {denied}");
        }
        let re = check_opensnitch(&export_text(&catalog, &policy, ExportFormat::Opensnitch));
        assert!(!re.matches(allowed) && re.matches(denied), "opensnitch under {profile_name}");
        let ls = json(&export_text(&catalog, &policy, ExportFormat::LittleSnitch));
        let covers = |host: &str| {
            ls["denied-remote-hosts"].as_array().into_iter().flatten().any(|h| h == host)
                || ls["denied-remote-domains"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str())
                    .any(|d| host == d || host.ends_with(&format!(".{d}")))
        };
        assert!(!covers(allowed) && covers(denied), "little-snitch under {profile_name}");
        let next = json(&export_text(&catalog, &policy, ExportFormat::Nextdns));
        let next_covers = |host: &str| {
            next.as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["id"].as_str())
                .any(|d| host == d || host.ends_with(&format!(".{d}")))
        };
        assert!(!next_covers(allowed), "nextdns under {profile_name} blocks {allowed}");
        let unbound = export_text(&catalog, &policy, ExportFormat::Unbound);
        assert!(!unbound.contains(&format!("\"{allowed}.\" always_nxdomain")));
    }
}

const CRAFTED: &str = r#"
[[entry]]
host = "*.x.test"
class = "telemetry"
tool = "t"
note = "n"
source = "s"

[[entry]]
host = "api.x.test"
class = "model"
tool = "t"
note = "n"
source = "s"

[[entry]]
host = "t.api.x.test"
class = "telemetry"
tool = "t"
note = "n"
source = "s"

[[entry]]
host = "shared.example"
class = "telemetry"
tool = "t"
note = "n"
source = "s"
"#;

const CRAFTED_POLICY: &str = r#"
name = "crafted"
description = "model api.x.test"
[model]
allow = ["api.x.test"]
[local]
allow = []
[opt_in]
classes = []
hosts = []
[unknown]
verdict = "warn"
"#;

/// Shares an address with api.x.test.
struct SharingResolver;

impl Resolve for SharingResolver {
    fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let ips = match name {
            "api.x.test" => vec!["192.0.2.1"],
            "shared.example" => vec!["192.0.2.1", "192.0.2.2", "2001:db8::2"],
            "t.api.x.test" => vec!["192.0.2.3"],
            _ => vec![],
        };
        Ok(ips.into_iter().filter_map(|s| s.parse().ok()).collect())
    }
}

#[test]
fn exceptions_keep_an_allowed_name_inside_a_blocked_domain_reachable() {
    let mut catalog = Catalog::default();
    catalog.add_toml(CRAFTED, "crafted.toml").unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy::from_toml(CRAFTED_POLICY, "crafted").unwrap_or_else(|e| panic!("{e}"));
    let text = |f| export::export_with(&catalog, &policy, f, &[], &SharingResolver).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));

    let dnsmasq = text(ExportFormat::Dnsmasq).text;
    assert!(dnsmasq.contains("address=/x.test/0.0.0.0\naddress=/x.test/::\n"));
    assert!(dnsmasq.contains("server=/api.x.test/#\n"));
    assert!(dnsmasq.contains("address=/t.api.x.test/0.0.0.0\n"));
    check_dnsmasq(dir.path(), &dnsmasq);
    let c = blocked_by(&dnsmasq, ImportFormat::Dnsmasq);
    assert!(is_blocked(&c, "a.x.test") && !is_blocked(&c, "api.x.test") && is_blocked(&c, "t.api.x.test"));

    let unbound = text(ExportFormat::Unbound).text;
    assert!(unbound.contains("local-zone: \"x.test.\" always_nxdomain"));
    assert!(unbound.contains("local-zone: \"api.x.test.\" transparent"));
    assert!(unbound.contains("local-zone: \"t.api.x.test.\" always_nxdomain"));
    check_unbound(dir.path(), &unbound);

    let squid = text(ExportFormat::Squid).text;
    assert!(squid.contains("acl egress_audit_deny dstdomain .x.test\n"));
    assert!(squid.contains("acl egress_audit_allow_1 dstdomain api.x.test\n"));
    // t.api.x.test needs no line of its own: .x.test covers it and the exemption is exact.
    assert!(!squid.contains("dstdomain t.api.x.test"));
    assert!(squid.contains("http_access deny egress_audit_deny !egress_audit_allow_1\n"));
    check_squid(dir.path(), &squid);

    let adguard = text(ExportFormat::Adguard).text;
    assert!(
        adguard.contains("||x.test^\n") && adguard.contains("@@|api.x.test^\n") && !adguard.contains("t.api.x.test")
    );
    let c = blocked_by(&adguard, ImportFormat::Adblock);
    assert!(is_blocked(&c, "a.x.test") && !is_blocked(&c, "api.x.test") && is_blocked(&c, "t.api.x.test"));

    // Formats without exceptions drop the covering domain and say so.
    for f in [ExportFormat::Nextdns, ExportFormat::LittleSnitch, ExportFormat::Opensnitch] {
        let e = text(f);
        assert!(!e.text.contains("\"x.test\"") && !e.text.contains("x\\\\.test|"), "{f}: {}", e.text);
        assert!(e.notes.iter().any(|n| n.contains("x.test and its sub-domains not blocked")), "{f}: {:?}", e.notes);
    }
    let hosts = text(ExportFormat::Hosts);
    assert!(hosts.text.contains("0.0.0.0 t.api.x.test\n") && !hosts.text.contains(" api.x.test\n"));
    assert!(hosts.notes.iter().any(|n| n.contains("*.x.test")));

    // nftables: the address shared with the model host is left out.
    let nft = text(ExportFormat::Nftables);
    assert!(nft.text.contains("192.0.2.2") && nft.text.contains("192.0.2.3") && nft.text.contains("2001:db8::2"));
    assert!(!nft.text.lines().any(|l| l.trim().trim_end_matches(',') == "192.0.2.1"), "{}", nft.text);
    assert!(nft.notes.iter().any(|n| n.contains("192.0.2.1")));
    assert!(nft.text.contains("AT EXPORT TIME"));
    check_nft(dir.path(), &nft.text);
}

#[test]
fn export_by_class_and_refusals() {
    let catalog = builtin();
    let policy = profile("claude-code");
    let e = export::export_with(&catalog, &policy, ExportFormat::Pihole, &[Class::ErrorReporting], &FakeResolver)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!e.text.contains("statsig.anthropic.com") && e.blocked > 0);
    assert!(export::export_with(&catalog, &policy, ExportFormat::Pihole, &[Class::Local], &FakeResolver).is_err());
    assert_eq!("lsrules".parse::<ExportFormat>(), Ok(ExportFormat::LittleSnitch));
}

// ---------------------------------------------------------------------------------------------
// Import

fn imported(text: &str, format: ImportFormat) -> Vec<String> {
    let i = import::import(text, "list.txt", format, Class::Telemetry, "community").unwrap_or_else(|e| panic!("{e}"));
    i.rules.iter().map(|r| r.host.clone()).collect()
}

#[test]
fn import_hosts_files() {
    let text = "# StevenBlack-style\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n255.255.255.255 broadcasthost\n0.0.0.0 0.0.0.0\n\n0.0.0.0 ads.example tracker.example # two\n127.0.0.1\tMetrics.Example.\n192.168.1.5 nas.lan\n:: v6.example\n";
    assert_eq!(
        imported(text, ImportFormat::Hosts),
        ["ads.example", "tracker.example", "metrics.example", "v6.example"]
    );
    assert_eq!(ImportFormat::Auto.resolve(text), ImportFormat::Hosts);
    let i = import::import(text, "h", ImportFormat::Hosts, Class::Telemetry, "x").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(i.skipped, 2, "the 192.168.1.5 and 255.255.255.255 mappings are not blocks");
    let e =
        import::import("0.0.0.0 ok.example\n0.0.0.0 bad name!\n", "h.txt", ImportFormat::Hosts, Class::Telemetry, "x")
            .err();
    assert_eq!(e.as_ref().map(|e| (e.origin.as_str(), e.line)), Some(("h.txt", 2)), "{e:?}");
    let e = import::import("ads.example 0.0.0.0\n", "h.txt", ImportFormat::Hosts, Class::Telemetry, "x").err();
    assert_eq!(e.map(|e| e.line), Some(1));
}

#[test]
fn import_plain_domain_lists() {
    let text = "# domains\nads.example\n\nADS.example\n*.wild.example\ntrk.example # inline\n";
    assert_eq!(imported(text, ImportFormat::Auto), ["ads.example", "*.wild.example", "trk.example"]);
    let e = import::import("a.example\nb.example c.example\n", "d", ImportFormat::Domains, Class::Telemetry, "x").err();
    assert_eq!(e.map(|e| e.line), Some(2));
    let e = import::import("a.example\n\nexa_mple..com\n", "d", ImportFormat::Domains, Class::Telemetry, "x").err();
    assert_eq!(e.map(|e| e.line), Some(3));
}

#[test]
fn import_adguard_syntax_with_exceptions() {
    let text = "[Adblock Plus 2.0]\n! Title: test\n||tracker.example^\n||cdn.tracker.example^\n@@||cdn.tracker.example^\n|exact.example^\n||opt.example^$important\n||client.example^$client=10.0.0.1\nexample.com##.banner\n/ads[0-9]+/\n||path.example/ads\n@@||notlisted.example^\n";
    assert_eq!(ImportFormat::Auto.resolve(text), ImportFormat::Adblock);
    let i = import::import(text, "adguard.txt", ImportFormat::Auto, Class::Telemetry, "community")
        .unwrap_or_else(|e| panic!("{e}"));
    let hosts: Vec<&str> = i.rules.iter().map(|r| r.host.as_str()).collect();
    assert_eq!(hosts, ["*.tracker.example", "tracker.example", "exact.example", "*.opt.example", "opt.example"]);
    assert_eq!((i.exceptions.len(), i.excepted, i.skipped), (2, 2, 4));
    let e = import::import("||ok.example^\n||bad host^\n", "a", ImportFormat::Adblock, Class::Telemetry, "x").err();
    assert_eq!(e.map(|e| e.line), Some(2));

    // Into a catalog: the exception carves cdn.tracker.example (and its sub-domains) out of
    // the list's *.tracker.example, and leaves the shipped catalog alone.
    let mut c = builtin();
    let before = c.lookup("statsig.anthropic.com", None).map(|r| r.reference());
    let s = c
        .add_import(
            &format!("{text}@@||statsig.anthropic.com^\n||statsig.anthropic.com^\n"),
            "adguard.txt",
            ImportFormat::Auto,
            Class::Telemetry,
            "community",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.carve_outs, 2, "{s:?}");
    assert_eq!(c.lookup("a.tracker.example", None).map(|r| r.class), Some(Class::Telemetry));
    assert_eq!(c.lookup("cdn.tracker.example", None).map(|r| r.class), Some(Class::Unknown));
    assert_eq!(c.lookup("x.cdn.tracker.example", None).map(|r| r.class), Some(Class::Unknown));
    assert_eq!(c.lookup("statsig.anthropic.com", None).map(|r| r.reference()), before);
    let policy = profile("claude-code");
    let j = egress_audit::classify::judge(
        egress_audit::classify::Subject { host: Some("cdn.tracker.example"), path: None, server: None },
        &c,
        &policy,
    );
    assert_eq!(j.verdict, egress_audit::policy::Verdict::Warn, "an excepted name is judged as unknown");
}

#[test]
fn import_dnsmasq_syntax() {
    let text = "# dnsmasq\naddress=/ads.example/0.0.0.0\naddress=/ads.example/::\naddress=/a.example/b.example/\nlocal=/loc.example/\nserver=/srv.example/\nserver=/corp.example/10.0.0.1\naddress=/redirect.example/192.0.2.7\naddress=/*.wild.example/0.0.0.0\naddress=/ok.ads.example/0.0.0.0\nserver=/ok.ads.example/#\ncache-size=1000\n";
    assert_eq!(ImportFormat::Auto.resolve(text), ImportFormat::Dnsmasq);
    let i = import::import(text, "d.conf", ImportFormat::Auto, Class::Experiments, "community")
        .unwrap_or_else(|e| panic!("{e}"));
    let hosts: Vec<&str> = i.rules.iter().map(|r| r.host.as_str()).collect();
    assert_eq!(
        hosts,
        [
            "*.ads.example",
            "ads.example",
            "*.a.example",
            "a.example",
            "*.b.example",
            "b.example",
            "*.loc.example",
            "loc.example",
            "*.srv.example",
            "srv.example",
            "*.wild.example"
        ]
    );
    assert!(i.rules.iter().all(|r| r.class == Class::Experiments && r.tool == "community"));
    assert_eq!((i.skipped, i.excepted), (3, 2));
    for (bad, line) in [
        ("address=/#/0.0.0.0\n", 1),
        ("address=/ok.example/\naddress=ads.example\n", 2),
        ("# x\nnot a line!\n", 2),
        ("address=/x.example/not-an-ip\n", 1),
    ] {
        let e = import::import(bad, "d.conf", ImportFormat::Dnsmasq, Class::Telemetry, "x").err();
        assert_eq!(e.map(|e| e.line), Some(line), "{bad}");
    }
}

#[test]
fn import_refuses_analysis_classes_and_keeps_curated_entries() {
    assert!(import::import("a.example\n", "x", ImportFormat::Domains, Class::Unknown, "t").is_err());
    let mut c = builtin();
    let s = c
        .add_file("0.0.0.0 statsig.anthropic.com\n0.0.0.0 new.example\n", "hosts", Class::ErrorReporting, "community")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((s.format, s.added, s.kept_existing), (ImportFormat::Hosts, 1, 1));
    assert_eq!(c.lookup("statsig.anthropic.com", None).map(|r| r.class), Some(Class::Telemetry));
    assert_eq!(c.lookup("new.example", None).map(|r| r.class), Some(Class::ErrorReporting));
    // Native TOML through the same entry point.
    let s = c.add_file(CRAFTED, "crafted.toml", Class::Telemetry, "ignored").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((s.format, s.added), (ImportFormat::Toml, 4));
}

/// 200,000 generated names beside the built-in catalog: the import is linear and lookups stay one
/// probe per label. No timing assertion (debug builds vary); the numbers are printed.
#[test]
fn import_200k_names() {
    let mut text = String::with_capacity(200_000 * 32);
    for i in 0..200_000u32 {
        text.push_str(&format!("0.0.0.0 host{i}.block{}.example\n", i % 997));
    }
    let mut c = builtin();
    let base = c.len();
    let start = std::time::Instant::now();
    let s = c
        .add_import(&text, "big.hosts", ImportFormat::Auto, Class::Telemetry, "community")
        .unwrap_or_else(|e| panic!("{e}"));
    let built = start.elapsed();
    assert_eq!((s.format, s.added, c.len()), (ImportFormat::Hosts, 200_000, base + 200_000));
    let start = std::time::Instant::now();
    let mut hits = 0;
    for i in (0..200_000u32).step_by(7) {
        hits += usize::from(c.lookup(&format!("host{i}.block{}.example", i % 997), None).is_some());
        hits += usize::from(c.lookup(&format!("miss{i}.block.example"), None).is_some());
    }
    let looked = start.elapsed();
    assert_eq!(hits, 200_000usize.div_ceil(7));
    assert_eq!(c.lookup("statsig.anthropic.com", None).map(|r| r.class), Some(Class::Telemetry));
    eprintln!("200k import: {built:?}; {} lookups in {looked:?}", 2 * 200_000usize.div_ceil(7));
}

// ---------------------------------------------------------------------------------------------
// Lint

fn entry(host: &str, path: Option<&str>, class: &str, tool: &str) -> String {
    let path = path.map(|p| format!("path = \"{p}\"\n")).unwrap_or_default();
    format!(
        "[[entry]]\nhost = \"{host}\"\n{path}class = \"{class}\"\ntool = \"{tool}\"\nnote = \"n\"\nsource = \"s\"\n\n"
    )
}

fn kinds(c: &Catalog) -> Vec<(LintKind, Vec<String>)> {
    lint::lint(c).into_iter().map(|f| (f.kind, f.rules)).collect()
}

#[test]
fn lint_finds_duplicates_and_conflicts_across_files() {
    let mut c = Catalog::default();
    let a = [
        entry("a.test", None, "telemetry", "t"),
        entry("m.test", None, "model", "t"),
        entry("c.test", None, "telemetry", "t"),
    ]
    .concat();
    let b = [
        entry("a.test", None, "telemetry", "t"),
        entry("m.test", None, "telemetry", "t"),
        entry("c.test", None, "experiments", "t"),
    ]
    .concat();
    c.add_toml(&a, "a.toml").unwrap_or_else(|e| panic!("{e}"));
    c.add_toml(&b, "b.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        kinds(&c),
        [
            (LintKind::Duplicate, vec!["b.toml:1 a.test".to_string(), "a.toml:1 a.test".to_string()]),
            (LintKind::ClassConflict, vec!["b.toml:15 c.test".to_string(), "a.toml:15 c.test".to_string()]),
            (LintKind::ModelAndProduct, vec!["b.toml:8 m.test".to_string(), "a.toml:8 m.test".to_string()]),
        ]
    );
}

#[test]
fn lint_finds_redundant_and_unreachable_rules() {
    let text = [
        entry("*.x.test", None, "telemetry", "t"),
        entry("*.a.x.test", None, "telemetry", "t"), // redundant: *.x.test says the same
        entry("b.x.test", None, "telemetry", "t"),   // documents a known host: not flagged
        entry("c.x.test", None, "telemetry", "other"), // attributes to another tool: kept
        entry("m.x.test", None, "model", "t"),       // more specific, different class: fine
        entry("p.test", Some("/api/"), "telemetry", "t"), // no host-level rule
        entry("h.test", None, "model", "t"),
        entry("h.test", Some("/api/"), "update-sharing", "t"),
        entry("h.test", Some("/api/x/"), "update-sharing", "t"), // documents a path: not flagged
        entry("h.test", Some("/api/events/"), "telemetry", "t"),
    ]
    .concat();
    let mut c = Catalog::default();
    c.add_toml(&text, "l.toml").unwrap_or_else(|e| panic!("{e}"));
    let found = kinds(&c);
    assert_eq!(
        found,
        [
            (LintKind::Redundant, vec!["l.toml:8 *.a.x.test".to_string(), "l.toml:1 *.x.test".to_string()]),
            (LintKind::UnreachablePath, vec!["l.toml:36 p.test/api/".to_string()]),
        ],
        "{:#?}",
        lint::lint(&c)
    );
}

#[test]
fn builtin_catalog_lint_findings_are_known() {
    let findings = lint::lint(&builtin());
    let got: Vec<String> = findings.iter().map(|f| format!("{} {}", f.kind, f.rules.join(" | "))).collect();
    // Known, reviewed findings of the shipped catalog (update this list when the data changes).
    // Both suffixes repeat what *.cursor.sh says (class model, tool cursor); cursor.toml may keep
    // them as documentation of the hosts Cursor is known to use.
    let known = [
        "redundant cursor.toml:31 *.gcpp.cursor.sh | cursor.toml:3 *.cursor.sh",
        "redundant cursor.toml:45 *.api5.cursor.sh | cursor.toml:3 *.cursor.sh",
        // github.com is deliberately unclassified (the user's own git work); only Codex's plugin sync on it
        // is product traffic, and only a known path can tell.
        "unreachable-path openai.toml:71 github.com/openai/plugins.git/",
    ];
    assert_eq!(got, known, "{findings:#?}");
}

// ---------------------------------------------------------------------------------------------
// Diff

const DEVCONTAINER_FIREWALL: &str = r#"#!/bin/bash
set -euo pipefail
# Allow only what Claude Code needs (devcontainer init-firewall.sh style)
iptables -P OUTPUT DROP
gh_ranges=$(curl -s https://api.github.com/meta)
for domain in \
    "registry.npmjs.org" \
    "api.anthropic.com" \
    "sentry.io" \
    "statsig.anthropic.com" \
    "statsig.com"; do
    ips=$(dig +noall +answer A "$domain" | awk '$4 == "A" {print $5}')
    ipset add allowed-domains "$ip"
done
ipset add allowed-domains $(dig +short marketplace.visualstudio.com)
source /usr/local/lib/helpers.sh
"#;

#[test]
fn diff_an_allowlist_script() {
    let parsed = diff::parse_list(DEVCONTAINER_FIREWALL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((parsed.format, parsed.kind), (ListFormat::Script, Some(ListKind::Allowlist)));
    assert_eq!(
        parsed.hosts,
        [
            "api.github.com",
            "registry.npmjs.org",
            "api.anthropic.com",
            "sentry.io",
            "statsig.anthropic.com",
            "statsig.com",
            "marketplace.visualstudio.com"
        ]
    );
    let r = diff::diff(&builtin(), &profile("claude-code"), &parsed.hosts, ListKind::Allowlist);
    let through: Vec<(&str, Class)> = r.lets_through.iter().map(|e| (e.host.as_str(), e.class)).collect();
    assert!(through.contains(&("statsig.anthropic.com", Class::Telemetry)), "{}", r.to_text());
    assert!(through.contains(&("registry.npmjs.org", Class::UpdateSharing)), "{}", r.to_text());
    assert!(!through.iter().any(|(h, _)| *h == "api.anthropic.com"));
    assert!(r.misses_allowed.is_empty(), "{}", r.to_text());
    // Without the model host the chosen model would be blocked.
    let without: Vec<String> = parsed.hosts.iter().filter(|h| *h != "api.anthropic.com").cloned().collect();
    let r = diff::diff(&builtin(), &profile("claude-code"), &without, ListKind::Allowlist);
    assert_eq!(r.misses_allowed.iter().map(|e| e.host.as_str()).collect::<Vec<_>>(), ["api.anthropic.com"]);
    assert!(!r.is_clean());
}

#[test]
fn diff_a_denylist_lsrules() {
    let ls = r#"{"name":"x","description":"y","denied-remote-domains":["anthropic.com","statsig.com"],"denied-remote-hosts":["o1.ingest.sentry.io"]}"#;
    let parsed = diff::parse_list(ls).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((parsed.format, parsed.kind), (ListFormat::Lsrules, Some(ListKind::Denylist)));
    assert_eq!(parsed.hosts, [".anthropic.com", ".statsig.com", "o1.ingest.sentry.io"]);
    let r = diff::diff(&builtin(), &profile("claude-code"), &parsed.hosts, ListKind::Denylist);
    let blocked: Vec<&str> = r.blocks_allowed.iter().map(|e| e.host.as_str()).collect();
    assert_eq!(blocked, ["api.anthropic.com"], "{}", r.to_text());
    assert_eq!(r.blocks_allowed[0].listed.as_deref(), Some(".anthropic.com"));
    assert!(r.misses_denied.iter().any(|e| e.host == "api.openai.com"), "another vendor's model is not blocked");
    assert!(!r.misses_denied.iter().any(|e| e.host.ends_with("anthropic.com")));
    // A well-formed export of our own is a clean denylist.
    let ours = diff::parse_list(&export_text(&builtin(), &profile("claude-code"), ExportFormat::Adguard))
        .unwrap_or_else(|e| panic!("{e}"));
    let r = diff::diff(&builtin(), &profile("claude-code"), &ours.hosts, ListKind::Denylist);
    assert!(r.blocks_allowed.is_empty(), "{}", r.to_text());
}
