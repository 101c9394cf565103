//! The sealed world: this process moves into a private network namespace where only `lo` exists and
//! every IPv4 and IPv6 address is local, so whatever the agent dials — a name our DNS answered, a
//! hard-coded resolver, an IP literal — lands on our own listeners and nothing can leave the machine.
//!
//! Root gets a plain network namespace; anyone else gets one inside a user namespace (mapped to root
//! there), where the kernel allows it. Both also get a mount namespace, used to hide host resolver
//! sockets (nss-resolve, nscd talk over path-bound Unix sockets that no network namespace contains)
//! and, when asked, to make the run's CA the system trust store.

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How the namespace was obtained; the report says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Root (or CAP_SYS_ADMIN): a network namespace of its own.
    Root,
    /// Unprivileged: a user namespace that owns the network namespace.
    UserNamespace,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Root => "root",
            Isolation::UserNamespace => "user-namespace",
        }
    }
}

#[derive(Debug)]
pub struct NetnsError(pub String);

impl fmt::Display for NetnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Host paths through which a resolver outside the namespace could still be reached.
const RESOLVER_SOCKET_DIRS: [&str; 4] = ["/run/systemd/resolve", "/run/nscd", "/var/run/nscd", "/run/dbus"];

/// The system trust stores a client reads when it ignores the CA variables.
const SYSTEM_TRUST_STORES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// What entering the namespace did, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sealed {
    pub isolation: Isolation,
    /// Host sockets hidden from the agent (directories over which an empty tmpfs was mounted).
    pub hidden: Vec<String>,
    /// System trust stores replaced by the run's CA.
    pub trust_stores: Vec<String>,
}

/// Moves this process (and every process it starts later) into the sealed namespace. Must run while
/// the process is still single-threaded: the kernel refuses a user namespace to a threaded process.
pub fn enter() -> Result<Sealed, NetnsError> {
    let isolation = unshare_namespaces()?;
    // Mount events must not propagate back to the host's mount namespace.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(|e| NetnsError(format!("cannot make the private mount namespace private: {e}")))?;
    bring_up_loopback()?;
    let mut hidden = Vec::new();
    for dir in RESOLVER_SOCKET_DIRS {
        if Path::new(dir).is_dir() {
            mount(Some("tmpfs"), dir, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("size=64k"))
                .map_err(|e| NetnsError(format!("cannot hide {dir} from the sealed run: {e}")))?;
            hidden.push(dir.to_string());
        }
    }
    Ok(Sealed { isolation, hidden, trust_stores: Vec::new() })
}

fn unshare_namespaces() -> Result<Isolation, NetnsError> {
    let root_err = match unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS) {
        Ok(()) => return Ok(Isolation::Root),
        Err(e) => e,
    };
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS).map_err(|e| {
        NetnsError(format!(
            "cannot create a private network namespace: as root it failed with {root_err}, and through an \
             unprivileged user namespace with {e} (run as root, or allow user namespaces: sysctl \
             kernel.unprivileged_userns_clone=1 / user.max_user_namespaces>0, or on Ubuntu \
             kernel.apparmor_restrict_unprivileged_userns=0)"
        ))
    })?;
    // Mapped to root inside, so the tools we start (ip) keep their capabilities over the namespace.
    let write = |path: &str, text: String| {
        std::fs::write(path, text).map_err(|e| NetnsError(format!("cannot write {path} for the user namespace: {e}")))
    };
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    Ok(Isolation::UserNamespace)
}

/// `lo` up, and every address local: dialled anywhere, a connection reaches a listener on the
/// wildcard address here.
fn bring_up_loopback() -> Result<(), NetnsError> {
    ip(&["link", "set", "lo", "up"])?;
    ip(&["-4", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "local"])?;
    // Some kernels boot without IPv6; an IPv4-only seal is still sealed.
    let _ = ip(&["-6", "route", "add", "local", "::/0", "dev", "lo", "table", "local"]);
    Ok(())
}

fn ip(args: &[&str]) -> Result<(), NetnsError> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        NetnsError(format!("cannot run `ip` (iproute2) to set up the sealed namespace: {e}; install iproute2"))
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(NetnsError(format!("`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
}

/// Makes `ca_pem` the system trust store for everything started from now on (bind mounts inside the
/// private mount namespace; the host's files are untouched).
pub fn trust_ca_system_wide(sealed: &mut Sealed, ca_pem: &Path) -> Result<(), NetnsError> {
    for store in SYSTEM_TRUST_STORES {
        let target = PathBuf::from(store);
        if !target.is_file() {
            continue;
        }
        mount(Some(ca_pem), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| NetnsError(format!("cannot put the run's CA in place of {store}: {e}")))?;
        sealed.trust_stores.push(store.to_string());
    }
    Ok(())
}

/// Addresses the host's resolver configuration names: clients send their DNS there, so the responder
/// must answer from exactly those addresses.
pub fn configured_resolvers(resolv_conf: &str) -> Vec<std::net::IpAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter_map(|a| a.split('%').next()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolvers_from_resolv_conf() {
        let conf = "# generated\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nsearch example\nnameserver bogus\n";
        let got = configured_resolvers(conf);
        assert_eq!(got, vec!["10.0.0.2".parse::<std::net::IpAddr>().unwrap(), "fe80::1".parse().unwrap()]);
    }
}
