//! The run's certificate authority and the leaf certificates it mints per name.
//!
//! The CA key lives only in memory: a CA that signs for every name must not outlive the run. Leaves share
//! one key (minting a name then costs one signature, not a key generation) and are cached per name in a
//! bounded cache, so an agent that dials random names cannot grow memory without limit.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, SigningKey};

/// Leaves kept per run; past this the oldest name is minted again when it comes back.
const LEAF_CACHE: usize = 4096;
/// Longest name we mint for (DNS names are at most 253 bytes).
const MAX_NAME: usize = 253;

#[derive(Debug)]
pub struct CaError(pub String);

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run CA: {}", self.0)
    }
}

impl std::error::Error for CaError {}

fn err(context: &str) -> impl Fn(rcgen::Error) -> CaError + '_ {
    move |e| CaError(format!("{context}: {e}"))
}

/// A CA created for one run (EC P-256). Only its certificate is ever written out.
pub struct RunCa {
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    leaf_key: KeyPair,
    leaf_signer: Arc<dyn SigningKey>,
}

impl fmt::Debug for RunCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunCa").field("cert_pem", &self.cert_pem).finish_non_exhaustive()
    }
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    // A day back tolerates a client whose clock is a little behind ours.
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days);
}

impl RunCa {
    pub fn generate() -> Result<RunCa, CaError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(err("CA key"))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "egress-audit sealed run CA");
        dn.push(DnType::OrganizationName, "egress-audit");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, 30);
        let cert = params.self_signed(&key).map_err(err("CA certificate"))?;
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(err("leaf key"))?;
        let leaf_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let leaf_signer = rustls::crypto::ring::sign::any_ecdsa_type(&leaf_der)
            .map_err(|e| CaError(format!("leaf signing key: {e}")))?;
        Ok(RunCa {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
            leaf_key,
            leaf_signer,
        })
    }

    /// The CA certificate as PEM: what clients are told to trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Writes the certificate (never the key) to `path`.
    pub fn write_cert_pem(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.cert_pem.as_bytes())
    }

    /// A leaf for a DNS name or an IP address (IP SAN), signed by this CA, with the chain to send.
    pub fn mint(&self, subject: &Subject) -> Result<Arc<CertifiedKey>, CaError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        match subject {
            Subject::Name(name) => {
                let ia5 = rcgen::string::Ia5String::try_from(name.as_str()).map_err(err("leaf name"))?;
                dn.push(DnType::CommonName, name.as_str());
                params.subject_alt_names = vec![SanType::DnsName(ia5)];
            }
            Subject::Ip(ip) => {
                dn.push(DnType::CommonName, ip.to_string());
                params.subject_alt_names = vec![SanType::IpAddress(*ip)];
            }
        }
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, 7);
        let cert = params.signed_by(&self.leaf_key, &self.issuer).map_err(err("leaf certificate"))?;
        let chain = vec![cert.der().clone(), self.cert_der.clone()];
        Ok(Arc::new(CertifiedKey::new(chain, self.leaf_signer.clone())))
    }
}

/// What a leaf certifies: the SNI the client sent, or the address it dialled when it sent none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    Name(String),
    Ip(IpAddr),
}

/// Minted leaves by subject, oldest evicted first.
pub struct LeafCache {
    ca: Arc<RunCa>,
    capacity: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    by_subject: HashMap<Subject, Arc<CertifiedKey>>,
    order: VecDeque<Subject>,
}

impl LeafCache {
    pub fn new(ca: Arc<RunCa>) -> LeafCache {
        LeafCache::with_capacity(ca, LEAF_CACHE)
    }

    pub fn with_capacity(ca: Arc<RunCa>, capacity: usize) -> LeafCache {
        LeafCache { ca, capacity: capacity.max(1), inner: Mutex::new(CacheInner::default()) }
    }

    pub fn get(&self, subject: &Subject) -> Option<Arc<CertifiedKey>> {
        if let Ok(inner) = self.inner.lock()
            && let Some(key) = inner.by_subject.get(subject)
        {
            return Some(key.clone());
        }
        // Minted outside the lock: a signature is the slow part, and two racing handshakes for one new
        // name merely mint twice.
        let key = self.ca.mint(subject).ok()?;
        if let Ok(mut inner) = self.inner.lock()
            && !inner.by_subject.contains_key(subject)
        {
            if inner.order.len() >= self.capacity
                && let Some(old) = inner.order.pop_front()
            {
                inner.by_subject.remove(&old);
            }
            inner.order.push_back(subject.clone());
            inner.by_subject.insert(subject.clone(), key.clone());
        }
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.by_subject.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The certificate for one connection: by SNI, else for the local address the client dialled.
#[derive(Debug)]
pub struct ConnResolver {
    pub cache: Arc<LeafCache>,
    pub local_ip: IpAddr,
}

impl fmt::Debug for LeafCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafCache").field("len", &self.len()).finish()
    }
}

impl ResolvesServerCert for ConnResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.cache.get(&subject_for(hello.server_name(), self.local_ip))
    }
}

/// SNI when it is a usable DNS name, else the local IP (IPv4-mapped IPv6 shown as IPv4, as clients dial it).
pub fn subject_for(sni: Option<&str>, local_ip: IpAddr) -> Subject {
    match sni {
        Some(name) if !name.is_empty() && name.len() <= MAX_NAME => Subject::Name(name.to_ascii_lowercase()),
        _ => Subject::Ip(local_ip.to_canonical()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn leaves_are_cached_per_subject_and_the_cache_is_bounded() {
        let ca = Arc::new(RunCa::generate().unwrap());
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!ca.cert_pem().contains("PRIVATE"));
        let cache = LeafCache::with_capacity(ca, 8);
        let a = cache.get(&subject_for(Some("API.Example.test"), "127.0.0.1".parse().unwrap())).unwrap();
        let again = cache.get(&Subject::Name("api.example.test".into())).unwrap();
        assert!(Arc::ptr_eq(&a, &again), "a name is minted once");
        assert_eq!(a.cert.len(), 2, "leaf and CA are sent");
        let started = Instant::now();
        for i in 0..40 {
            cache.get(&Subject::Name(format!("n{i}.example.test"))).unwrap();
        }
        eprintln!("minted 40 leaves in {:?}", started.elapsed());
        assert_eq!(cache.len(), 8);
        let evicted = cache.get(&Subject::Name("api.example.test".into())).unwrap();
        assert!(!Arc::ptr_eq(&a, &evicted), "the oldest name was evicted and minted again");
    }

    #[test]
    fn no_sni_means_the_dialled_address() {
        let v4: IpAddr = "127.0.0.9".parse().unwrap();
        assert_eq!(subject_for(None, v4), Subject::Ip(v4));
        assert_eq!(subject_for(Some(""), v4), Subject::Ip(v4));
        let mapped: IpAddr = "::ffff:198.18.0.7".parse().unwrap();
        assert_eq!(subject_for(None, mapped), Subject::Ip("198.18.0.7".parse().unwrap()));
        assert_eq!(subject_for(Some(&"a".repeat(300)), v4), Subject::Ip(v4));
        let ca = RunCa::generate().unwrap();
        assert!(ca.mint(&Subject::Ip("::1".parse().unwrap())).is_ok());
        // A name rcgen cannot encode is refused, not a panic.
        assert!(ca.mint(&Subject::Name("caf\u{e9}.test".into())).is_err());
    }
}
