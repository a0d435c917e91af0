//! Simulated OneAgent Unix installers: a POSIX `sh` script that installs a fake `oneagentctl`,
//! signed like Dynatrace's (detached S/MIME, section 4 of dynatrace-api.md) by dtsim's CA, and
//! optionally padded to a realistic size. Large installers are never held in memory: the
//! signature digest is computed in one streaming pass and the bytes are regenerated per request.

mod body;
mod ca;
mod cache;
mod script;
mod sign;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

pub use ca::Ca;
pub use cache::DEFAULT_CAPACITY as DEFAULT_INSTALLER_CACHE;

/// The versions every simulated environment serves, oldest first.
pub const VERSIONS: [&str; 3] = [
    "1.299.40.20250908-101500",
    "1.301.55.20260114-153010",
    "1.303.12.20260310-090000",
];

/// How the installer is spoiled (or not).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Correctly signed by dtsim's CA, installs.
    Normal,
    /// One payload byte changed after signing.
    BadSignature,
    /// Signed by a CA that is not dtsim's.
    OtherCa,
    /// Correctly signed; running it prints an error and exits with this code (1..=255).
    Fails(i32),
    /// Correctly signed; running it never returns.
    Hangs,
}

/// Everything that determines an installer's bytes (the cache key). `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InstallerParams {
    pub environment: String,
    pub version: String,
    pub arch: String,
    pub tenant_uuid: String,
    pub tenant_token: String,
    /// Communication endpoints, `;`-separated.
    pub endpoints: String,
    pub variant: Variant,
    /// Approximate total size in bytes; `None` = just the script (a few KiB).
    pub pad_to: Option<u64>,
}

impl std::fmt::Debug for InstallerParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallerParams")
            .field("environment", &self.environment)
            .field("version", &self.version)
            .field("arch", &self.arch)
            .field("tenant_uuid", &self.tenant_uuid)
            .field("tenant_token", &"<redacted>")
            .field("endpoints", &self.endpoints)
            .field("variant", &self.variant)
            .field("pad_to", &self.pad_to)
            .finish()
    }
}

/// A signed installer, ready to be streamed any number of times.
pub struct Installer {
    body: body::Body,
    etag: String,
}

impl std::fmt::Debug for Installer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the bytes: the script embeds the tenant token.
        f.debug_struct("Installer")
            .field("len", &self.len())
            .field("etag", &self.etag)
            .finish()
    }
}

impl Installer {
    /// Exact size in bytes of what `stream()` yields.
    pub fn len(&self) -> u64 {
        self.body.len()
    }

    /// Never true (an installer always has a script); here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Quoted strong entity tag, stable for this installer's content.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// The installer's bytes in chunks of about 64 KiB, generated on the fly.
    pub fn stream(
        self: &Arc<Self>,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static
    {
        let me = Arc::clone(self);
        let mut pos = 0u64;
        futures_util::stream::iter(std::iter::from_fn(move || {
            let chunk = me.body.chunk_at(pos)?;
            pos += chunk.len() as u64;
            Some(Ok(chunk))
        }))
    }

    /// The whole installer in memory (tests and small installers only).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        let mut pos = 0u64;
        while let Some(chunk) = self.body.chunk_at(pos) {
            pos += chunk.len() as u64;
            out.extend_from_slice(&chunk);
        }
        out
    }
}

/// One cache slot: filled once; concurrent first requests wait on the slot's lock instead of
/// each signing the same (possibly 256 MiB) installer.
type Slot = Arc<Mutex<Option<Arc<Installer>>>>;

/// Builds installers on demand and keeps the most recently used ones.
pub struct Factory {
    ca: Arc<Ca>,
    other_ca: OnceLock<Arc<Ca>>,
    cache: Mutex<cache::Lru<InstallerParams, Slot>>,
    /// The signingTime of every installer this factory signs: with the deterministic ECDSA
    /// signature (RFC 6979) it makes an evicted installer come back byte for byte, so its
    /// ETag, and a download resumed across the eviction, stay valid.
    signed_at: SystemTime,
}

impl Factory {
    /// Cheap: no key generation or signing happens before the first `get`. Keeps
    /// [`DEFAULT_INSTALLER_CACHE`] installers.
    pub fn new(ca: Arc<Ca>) -> anyhow::Result<Factory> {
        Factory::with_capacity(ca, DEFAULT_INSTALLER_CACHE)
    }

    /// Keeps at most `capacity` installers (at least one); the least recently used goes first.
    pub fn with_capacity(ca: Arc<Ca>, capacity: usize) -> anyhow::Result<Factory> {
        // Whole seconds: what signingTime encodes, so nothing is lost in the encoding.
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(Factory {
            ca,
            other_ca: OnceLock::new(),
            cache: Mutex::new(cache::Lru::new(capacity)),
            signed_at: UNIX_EPOCH + Duration::from_secs(secs),
        })
    }

    /// How many installers are kept now.
    pub fn cached(&self) -> usize {
        lock(&self.cache).len()
    }

    /// The CA whose signer signs the installers of `variant`.
    fn ca_for(&self, variant: &Variant) -> anyhow::Result<Arc<Ca>> {
        if *variant != Variant::OtherCa {
            return Ok(Arc::clone(&self.ca));
        }
        if let Some(ca) = self.other_ca.get() {
            return Ok(Arc::clone(ca));
        }
        let ca = Arc::new(Ca::generate("Unrelated Root CA (not dtsim's)")?);
        Ok(Arc::clone(self.other_ca.get_or_init(|| ca)))
    }

    /// The installer for `p`, built and signed on first use (blocking: a 256 MiB installer
    /// takes a fraction of a second to a few seconds), then served from the cache. A failed
    /// build is not cached.
    pub fn get(&self, p: &InstallerParams) -> anyhow::Result<Arc<Installer>> {
        let slot = lock(&self.cache).get_or_insert_with(p, || Arc::new(Mutex::new(None)));
        let mut slot = lock(&slot);
        if let Some(hit) = slot.as_ref() {
            return Ok(Arc::clone(hit));
        }
        let ca = self.ca_for(&p.variant)?;
        let built = Arc::new(build(p, &ca, self.signed_at).with_context(|| {
            format!(
                "building the {} installer {} ({}) of environment {}",
                p.arch,
                p.version,
                variant_name(&p.variant),
                p.environment
            )
        })?);
        *slot = Some(Arc::clone(&built));
        Ok(built)
    }
}

/// Locks `m`; a panic elsewhere while holding it cannot leave these maps half-updated (every
/// update is a single insert), so a poisoned lock is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn variant_name(v: &Variant) -> String {
    match v {
        Variant::Normal => "normal".into(),
        Variant::BadSignature => "bad signature".into(),
        Variant::OtherCa => "other CA".into(),
        Variant::Fails(code) => format!("failing with exit code {code}"),
        Variant::Hangs => "hanging".into(),
    }
}

fn build(p: &InstallerParams, ca: &Ca, signed_at: SystemTime) -> anyhow::Result<Installer> {
    let text = script::render(p)?;
    let layout = body::Layout::new(text, p.pad_to)?;
    let digest = layout.signed_digest();
    let tail = sign::smime_tail(&digest, ca.signer(), signed_at)?;
    let flip = match p.variant {
        Variant::BadSignature => Some(layout.flip_offset()),
        _ => None,
    };
    let body = body::Body::new(layout, tail, flip);
    // The token is part of the content (embedded in the script); hash it, never print it.
    let key = format!("{p:?}\0{}", p.tenant_token);
    let etag = body.etag(&key);
    Ok(Installer { body, etag })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(variant: Variant) -> InstallerParams {
        InstallerParams {
            environment: "env-a".into(),
            version: VERSIONS[0].into(),
            arch: "x86".into(),
            tenant_uuid: "env-a".into(),
            tenant_token: "SECRET-TOKEN".into(),
            endpoints: "https://127.0.0.1:1/communication".into(),
            variant,
            pad_to: Some(1 << 20),
        }
    }

    #[test]
    fn concurrent_first_gets_share_one_build() {
        let f = Arc::new(Factory::new(Arc::new(Ca::generate("t").unwrap())).unwrap());
        let got: Vec<Arc<Installer>> = (0..8)
            .map(|_| {
                let f = Arc::clone(&f);
                std::thread::spawn(move || f.get(&params(Variant::Normal)).unwrap())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert!(got.iter().all(|i| Arc::ptr_eq(i, &got[0])));
        let bad = f.get(&params(Variant::BadSignature)).unwrap();
        assert_ne!(bad.etag(), got[0].etag());
        assert_eq!(bad.to_vec().len() as u64, bad.len());
        assert!(got[0].etag().starts_with('"') && got[0].etag().ends_with('"'));
    }

    #[test]
    fn the_cache_is_bounded_and_an_evicted_installer_comes_back_identical() {
        let f = Factory::with_capacity(Arc::new(Ca::generate("t").unwrap()), 2).unwrap();
        let env = |name: &str| InstallerParams {
            environment: name.into(),
            tenant_uuid: name.into(),
            ..params(Variant::Normal)
        };
        let first = f.get(&env("env-0")).unwrap();
        let first_bytes = first.to_vec();
        for i in 1..5 {
            f.get(&env(&format!("env-{i}"))).unwrap();
            assert!(f.cached() <= 2, "{} kept", f.cached());
        }
        // The signing clock moves on; the regenerated installer must not.
        std::thread::sleep(Duration::from_millis(1100));
        let again = f.get(&env("env-0")).unwrap();
        assert!(!Arc::ptr_eq(&first, &again), "env-0 was never evicted");
        assert_eq!(again.etag(), first.etag());
        assert!(again.to_vec() == first_bytes, "the bytes changed");
        assert_eq!(f.cached(), 2);
    }

    #[test]
    fn errors_name_the_installer_but_not_the_token() {
        let f = Factory::new(Arc::new(Ca::generate("t").unwrap())).unwrap();
        let mut p = params(Variant::Fails(300));
        p.tenant_token = "SECRET-TOKEN".into();
        let err = format!("{:#}", f.get(&p).unwrap_err());
        assert!(err.contains("env-a") && err.contains("300"), "{err}");
        assert!(!err.contains("SECRET-TOKEN"), "{err}");
        assert!(!format!("{p:?}").contains("SECRET-TOKEN"));
        let ok = f.get(&params(Variant::Normal)).unwrap();
        assert!(!format!("{ok:?}").contains("SECRET-TOKEN"));
        // ...while the script itself does embed it (that is what the installer is for).
        assert!(String::from_utf8_lossy(&ok.to_vec()).contains("SECRET-TOKEN"));
    }
}
